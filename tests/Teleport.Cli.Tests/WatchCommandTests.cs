namespace Teleport.Cli.Tests;

/// <summary>`teleport watch` without a terminal prints one line per change until it is stopped.</summary>
[Collection(OrchestratorCollection.Name)]
public sealed class WatchCommandTests
{
    [Fact]
    public async Task Prints_each_change_of_a_migration_as_a_line_and_ends_cleanly_on_ctrl_c()
    {
        await using var bed = await OrchestratorTestBed.StartAsync("sqlite");
        await bed.MigrateAndWait("ok-before-watch");
        var stdout = new SyncStringWriter();
        var stderr = new SyncStringWriter();
        using var stop = new CancellationTokenSource();
        var watch = Task.Run(() => TeleportApp.Run(["watch", "--db", bed.Database, "--interval", "0.1"], stdout, stderr, false, stop.Token));

        var (run, id) = await bed.MigrateAndWait("ok-watched");
        Assert.Equal(0, run.ExitCode);
        var until = DateTime.UtcNow.AddSeconds(20);
        while (!stdout.ToString().Contains($"{id:N}"[..8] + " ") || !Lines(stdout, id).Any(l => l.Contains("state=Succeeded")))
        {
            Assert.True(DateTime.UtcNow < until, $"no Succeeded line for {id}: {stdout}");
            await Task.Delay(50);
        }

        await stop.CancelAsync();
        Assert.Equal(0, await watch.WaitAsync(TimeSpan.FromSeconds(10)));
        var lines = Lines(stdout, id);
        Assert.Contains(lines, l => l.Contains("vm=vm-ok-watched") && l.Contains("state=Succeeded") && l.Contains("wire=204800"));
        Assert.Equal("", stderr.ToString().Trim());
    }

    [Fact]
    public async Task On_a_terminal_it_redraws_the_table_until_ctrl_c()
    {
        await using var bed = await OrchestratorTestBed.StartAsync("sqlite");
        var (run, id) = await bed.MigrateAndWait("ok-live");
        Assert.Equal(0, run.ExitCode);
        var stdout = new SyncStringWriter();
        var stderr = new SyncStringWriter();
        using var stop = new CancellationTokenSource();

        var watch = Task.Run(() => TeleportApp.Run(["watch", "--db", bed.Database, "--interval", "0.1"], stdout, stderr, true, stop.Token));
        var until = DateTime.UtcNow.AddSeconds(20);
        while (!stderr.ToString().Contains($"{id:N}"[..8]))
        {
            Assert.True(DateTime.UtcNow < until, $"the live table never showed {id}: {stderr}");
            await Task.Delay(50);
        }

        await stop.CancelAsync();
        Assert.Equal(0, await watch.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Contains("STATE", stderr.ToString());
        Assert.Contains("Succeeded", stderr.ToString());
    }

    [Fact]
    public void Bad_flags_are_exit_2()
    {
        Assert.Equal(2, CliRun.Of("watch", "--db", "/nonexistent/o.db").ExitCode);
        Assert.Equal(2, CliRun.Of("watch", "--db", "/nonexistent/o.db", "--interval", "0").ExitCode);
    }

    private static List<string> Lines(SyncStringWriter writer, Guid id) =>
        writer.ToString().Split('\n').Where(l => l.Contains($" {id:N}"[..9] + " ")).ToList();
}
