using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace Teleport.Cli.Tests;

/// <summary>`teleport migrate` on the real broker against a real orchestrator: progress per phase, summary, exit codes.</summary>
[Collection(OrchestratorCollection.Name)]
public sealed class MigrateCommandTests
{
    [Fact]
    public async Task Wait_shows_every_phase_and_a_summary_and_exits_0_on_success()
    {
        await using var bed = await OrchestratorTestBed.StartAsync("sqlite");

        var (run, id) = await bed.MigrateAndWait("ok-lines");

        Assert.True(run.ExitCode == 0, run.Stderr);
        string[] lines = run.Stderr.Split('\n');
        Assert.Contains(lines, l => l.StartsWith("prepare") && l.Contains($"destination {bed.Destination} ready"));
        Assert.Contains(lines, l => l.StartsWith("index") && l.Contains("256 blocks of 1 MiB indexed (10 zero)"));
        Assert.Contains(lines, l => l.StartsWith("request") && l.Contains("200 blocks rebuilt from the destination's index, 46 asked"));
        Assert.Contains(lines, l => l.StartsWith("copy") && l.Contains("round 1: 46 blocks"));
        Assert.Contains(lines, l => l.StartsWith("copy") && l.Contains("round 2: 3 blocks"));
        Assert.Contains(lines, l => l.StartsWith("cut-over") && l.Contains("VM paused"));
        Assert.Contains(lines, l => l.StartsWith("cut-over") && l.Contains("destination verified equal to the source (200 ms after the pause)"));
        Assert.Contains(lines, l => l.StartsWith("cut-over") && l.Contains("disk path switched to") && l.Contains("(100 ms after the pause)"));
        Assert.Contains(lines, l => l.StartsWith("done") && l.Contains("succeeded"));
        Assert.DoesNotContain("secret", run.Stderr);
        Assert.Contains(id.ToString(), run.Stdout);
        Assert.Contains("200 KiB (19.5% of the volume)", run.Stdout);
        Assert.Contains("200 of 256 blocks (78.1%)", run.Stdout);
        Assert.Contains("300 ms (from the pause: destination verified after 200 ms, disk switched after 100 ms)", run.Stdout);
    }

    [Fact]
    public async Task Wait_on_a_terminal_draws_a_bar_per_phase_and_the_summary()
    {
        await using var bed = await OrchestratorTestBed.StartAsync("sqlite");
        var stdout = new SyncStringWriter();
        var stderr = new SyncStringWriter();

        int code = await Task.Run(() => TeleportApp.Run([
            "migrate", "--vm", "vm-bars", "--volume", "ok-bars", "--from", bed.Source, "--to", bed.Destination, "--host", bed.Host,
            "--wait", "--timeout", "60", "--bus", OrchestratorTestBed.Rabbit, "--orchestrator-queue", bed.Queue], stdout, stderr, true));

        Assert.True(code == 0, stderr.ToString());
        foreach (string? phase in new[] { "prepare", "index", "request", "copy", "cut-over" })
            Assert.Contains(phase, stderr.ToString());
        Assert.Contains("200 KiB (19.5% of the volume)", stdout.ToString());
    }

    [Fact]
    public async Task Wait_with_json_prints_the_outcome_with_its_figures()
    {
        await using var bed = await OrchestratorTestBed.StartAsync("sqlite");

        var (run, id) = await bed.MigrateAndWait("ok-json", "--json", "--bandwidth", "100mbit");

        var json = run.Json();
        Assert.Equal(id, json.GetProperty("migrationId").GetGuid());
        Assert.Equal("Succeeded", json.GetProperty("state").GetString());
        Assert.Equal(1L << 20, json.GetProperty("volumeBytes").GetInt64());
        Assert.Equal(204_800, json.GetProperty("bytesOnWire").GetInt64());
        Assert.Equal(256, json.GetProperty("blocks").GetInt64());
        Assert.Equal(200, json.GetProperty("blocksFromIndex").GetInt64());
        Assert.Equal(3, json.GetProperty("rounds").GetInt32());
        Assert.Equal(300, json.GetProperty("downtimeMs").GetDouble(), precision: 3);
        Assert.Equal(200, json.GetProperty("pausedToVerifiedMs").GetDouble(), precision: 3);
        Assert.Equal(100, json.GetProperty("pausedToSwitchedMs").GetDouble(), precision: 3);
    }

    [Fact]
    public async Task Wait_exits_1_with_the_reason_when_the_migration_fails()
    {
        await using var bed = await OrchestratorTestBed.StartAsync("sqlite");

        var (run, id) = await bed.MigrateAndWait("fail-wait", "--json");

        Assert.Equal(1, run.ExitCode);
        Assert.Contains($"error: migration {id} failed in Copy: storage {bed.Source} failed in copy: disk read error at block 17", run.Stderr);
        Assert.Contains(run.Stderr.Split('\n'), l => l.StartsWith("rollback") && l.Contains("disk read error"));
        var json = JsonDocument.Parse(run.Stdout).RootElement;
        Assert.Equal("Failed", json.GetProperty("state").GetString());
        Assert.Equal("Copy", json.GetProperty("failedPhase").GetString());
    }

    [Fact]
    public async Task Without_wait_it_prints_the_id_and_the_orchestrator_takes_it_from_there()
    {
        await using var bed = await OrchestratorTestBed.StartAsync("sqlite");

        // Published, as other systems do: every orchestrator on the broker hears it.
        var run = await OrchestratorTestBed.Cli("migrate", "--vm", "vm-7", "--volume", "ok-nowait", "--from", bed.Source, "--to", bed.Destination,
            "--host", bed.Host, "--bus", OrchestratorTestBed.Rabbit);

        Assert.True(run.ExitCode == 0, run.Stderr);
        var id = Guid.Parse(run.Stdout.Trim());
        var row = await bed.WaitForState(id, "Succeeded");
        Assert.Equal("vm-7", row.GetProperty("vmId").GetString());
    }

    [Fact]
    public async Task To_host_requests_a_whole_vm_move_fenced_if_asked_and_status_shows_the_destination_host()
    {
        await using var bed = await OrchestratorTestBed.StartAsync("sqlite");
        string toHost = $"host2-{bed.Run}";

        var run = await OrchestratorTestBed.Cli("migrate", "--vm", "vm-whole", "--volume", "ok-whole", "--from", bed.Source, "--to", bed.Destination,
            "--host", bed.Host, "--to-host", toHost, "--multifd", "--multifd-channels", "2", "--memory-downtime-limit", "150",
            "--fenced", "--size", "1m", "--bus", OrchestratorTestBed.Rabbit, "--orchestrator-queue", bed.Queue);

        Assert.True(run.ExitCode == 0, run.Stderr);
        var id = Guid.Parse(run.Stdout.Trim());
        // The source host is asked to describe the VM (this bed's host double does not answer): the move waits in Preparing.
        var row = await bed.WaitForState(id, "Preparing");
        Assert.Equal(toHost, row.GetProperty("destinationHostId").GetString());
        Assert.Contains("source host describing the VM", row.GetProperty("progress").GetString());
        // The memory options reached the saga, which sends them to the hosts with the memory migration.
        var saved = SagaRow(bed.Database);
        Assert.Equal(("1", "2", "150"), (saved["OptionMemoryMultifd"], saved["OptionMemoryMultifdChannels"], saved["OptionMemoryDowntimeLimitMilliseconds"]));
        // --fenced applies to whole-VM moves too: migrate-continue does not wait for the disk's verdict.
        Assert.Equal("1", saved["OptionFencedCutover"]);
    }

    [Theory]
    [InlineData("--to-host is missing", "need --to-host", "--multifd")]
    [InlineData("channels without --multifd", "--multifd-channels 2: give 1 to 255 channels, with --multifd", "--to-host", "h2", "--multifd-channels", "2")]
    [InlineData("no channel", "--multifd-channels 0", "--to-host", "h2", "--multifd", "--multifd-channels", "0")]
    [InlineData("a limit of a minute and more", "--memory-downtime-limit 60001: give 1 to 60000 milliseconds", "--to-host", "h2", "--memory-downtime-limit", "60001")]
    public void Memory_options_out_of_range_or_without_a_whole_vm_move_are_exit_2(string why, string expected, params string[] extra)
    {
        var run = CliRun.Of(["migrate", "--vm", "vm-1", "--volume", "vol-1", "--from", "a", "--to", "b", "--host", "h", .. extra,
            "--bus", "rabbitmq://127.0.0.1:1/"]);

        Assert.True(run.ExitCode == 2, why);
        Assert.Contains(expected, run.Stderr);
    }

    private static Dictionary<string, string?> SagaRow(string sqliteFile)
    {
        using var db = new SqliteConnection($"Data Source={sqliteFile};Pooling=false");
        db.Open();
        using var query = db.CreateCommand();
        query.CommandText = "SELECT * FROM migrations";
        using var reader = query.ExecuteReader();
        Assert.True(reader.Read(), "the saga left no row");
        return Enumerable.Range(0, reader.FieldCount).ToDictionary(reader.GetName, i => reader.GetValue(i)?.ToString(), StringComparer.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Fenced_asks_for_the_fenced_cut_over_with_the_volume_size_and_status_shows_it()
    {
        await using var bed = await OrchestratorTestBed.StartAsync("sqlite");

        var (run, id) = await bed.MigrateAndWait("ok-fenced", "--json", "--fenced", "--size", "1m");

        Assert.True(run.ExitCode == 0, run.Stderr);
        var row = await bed.WaitForState(id, "Succeeded");
        Assert.True(row.GetProperty("fencedCutover").GetBoolean());
        Assert.False(row.GetProperty("postCopy").GetBoolean());
    }

    [Theory]
    [InlineData(new[] { "--fenced" }, "--fenced needs --size")]
    public void Fenced_without_what_it_needs_is_exit_2(string[] extra, string message)
    {
        var run = CliRun.Of(["migrate", "--vm", "vm-1", "--volume", "vol-1", "--from", "a", "--to", "b", "--host", "h", "--bus", "rabbitmq://127.0.0.1:1/", .. extra]);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains(message, run.Stderr);
    }

    [Fact]
    public void To_host_naming_the_vms_own_host_is_exit_2()
    {
        var run = CliRun.Of("migrate", "--vm", "vm-1", "--volume", "vol-1", "--from", "a", "--to", "b", "--host", "h", "--to-host", "h",
            "--bus", "rabbitmq://127.0.0.1:1/");

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("--to-host is the VM's own host 'h'", run.Stderr);
    }

    [Fact]
    public async Task Timeout_stops_waiting_with_exit_1_and_the_migration_goes_on()
    {
        await using var bed = await OrchestratorTestBed.StartAsync("sqlite");
        var id = Guid.NewGuid();

        var run = await OrchestratorTestBed.Cli("migrate", "--vm", "vm-8", "--volume", "stall-timeout", "--from", bed.Source, "--to", bed.Destination,
            "--host", bed.Host, "--id", id.ToString(), "--wait", "--timeout", "2", "--bus", OrchestratorTestBed.Rabbit,
            "--orchestrator-queue", bed.Queue);

        Assert.Equal(1, run.ExitCode);
        Assert.Contains($"migration {id} goes on", run.Stderr);
        await bed.WaitForState(id, "Indexing");
    }

    [Theory]
    [InlineData("--vm", "", "--vm is required")]
    [InlineData("--vm", "vm/1", "--vm 'vm/1' must be 1-128 characters")]
    [InlineData("--to", "a", "--from and --to are the same storage 'a'")]
    [InlineData("--bandwidth", "fast", "--bandwidth 'fast' is not a rate")]
    [InlineData("--id", "42", "'42' is not a migration id")]
    [InlineData("--bus", "memory", "--bus memory exists only inside one process")]
    [InlineData("--bus", "http://mq", "--bus 'http://mq' is none of")]
    [InlineData("--timeout", "-1", "--timeout -1 must be a positive number")]
    [InlineData("--size", "big", "--size 'big' is not a size")]
    [InlineData("--size", "0", "--size '0' must be above 0")]
    public void Bad_input_is_exit_2_and_one_line(string option, string value, string message)
    {
        var args = new List<string>
        {
            "migrate", "--vm", "vm-1", "--volume", "vol-1", "--from", "a", "--to", "b", "--host", "h", "--bus", "rabbitmq://127.0.0.1:1/",
            "--bandwidth", "1gbit", "--id", Guid.NewGuid().ToString(), "--timeout", "5", "--wait", "--size", "1m",
        };
        args[args.IndexOf(option) + 1] = value;

        var run = CliRun.Of([.. args]);

        Assert.Equal(2, run.ExitCode);
        string[] errors = run.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(errors);
        Assert.Contains(message, errors[0]);
    }

    [Fact]
    public void An_unreachable_broker_is_exit_1_in_one_line()
    {
        var run = CliRun.Of("migrate", "--vm", "vm-1", "--volume", "vol-1", "--from", "a", "--to", "b", "--host", "h", "--bus", "rabbitmq://guest:guest@127.0.0.1:1/");

        Assert.Equal(1, run.ExitCode);
        Assert.Contains("error: cannot reach the broker at rabbitmq://127.0.0.1:1/", run.Stderr);
    }
}
