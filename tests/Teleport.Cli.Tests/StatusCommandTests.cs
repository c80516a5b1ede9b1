namespace Teleport.Cli.Tests;

/// <summary>`teleport status` reads the saga store (SQLite and PostgreSQL) that a real orchestrator wrote.</summary>
[Collection(OrchestratorCollection.Name)]
public sealed class StatusCommandTests
{
    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task Lists_migrations_and_shows_one_in_detail_with_figures_timings_and_failures(string provider)
    {
        await using var bed = await OrchestratorTestBed.StartAsync(provider);
        var (ok, okId) = await bed.MigrateAndWait("ok-status");
        var (failed, failedId) = await bed.MigrateAndWait("fail-status");
        Assert.Equal((0, 1), (ok.ExitCode, failed.ExitCode));

        var all = (await OrchestratorTestBed.Cli("status", "--json", "--db", bed.Database)).Json().GetProperty("migrations").EnumerateArray().ToList();
        var good = all.Single(m => m.GetProperty("migrationId").GetGuid() == okId);
        Assert.Equal(("Succeeded", "Succeeded", true), (good.GetProperty("state").GetString(), good.GetProperty("phase").GetString(), good.GetProperty("final").GetBoolean()));
        Assert.Equal((1L << 20, 204_800L, 200L, 3), (good.GetProperty("volumeBytes").GetInt64(), good.GetProperty("bytesOnWire").GetInt64(),
            good.GetProperty("blocksFromIndex").GetInt64(), good.GetProperty("rounds").GetInt32()));
        Assert.Equal(300, good.GetProperty("downtimeMs").GetDouble(), precision: 3);
        Assert.Equal(3000, good.GetProperty("timings").GetProperty("copyMs").GetDouble(), precision: 3);
        // PostgreSQL keeps microseconds: 100 ms may come back as 99.999.
        Assert.Equal(200, good.GetProperty("timings").GetProperty("pausedToVerifiedMs").GetDouble(), precision: 1);
        Assert.Equal(100, good.GetProperty("timings").GetProperty("pausedToSwitchedMs").GetDouble(), precision: 1);
        var bad = all.Single(m => m.GetProperty("migrationId").GetGuid() == failedId);
        Assert.Equal(("Failed", "Copy"), (bad.GetProperty("state").GetString(), bad.GetProperty("failedPhase").GetString()));
        Assert.Contains("disk read error at block 17", bad.GetProperty("reason").GetString());

        var one = (await OrchestratorTestBed.Cli("status", failedId.ToString("N")[..8], "--json", "--db", bed.Database)).Json();
        Assert.Equal(failedId, one.GetProperty("migrationId").GetGuid());

        var table = await OrchestratorTestBed.Cli("status", "--db", bed.Database);
        Assert.Equal(0, table.ExitCode);
        Assert.Contains(okId.ToString("N")[..8], table.Stdout);
        Assert.Contains("Succeeded", table.Stdout);
        Assert.Contains("in Copy: storage", table.Stdout);

        var detail = await OrchestratorTestBed.Cli("status", okId.ToString(), "--db", bed.Database);
        Assert.Equal(0, detail.ExitCode);
        Assert.Contains("200 KiB (19.5% of the volume)", detail.Stdout);
        Assert.Contains("copy 3 s", detail.Stdout);
        Assert.Contains("300 ms (from the pause: destination verified after 200 ms, disk switched after 100 ms)", detail.Stdout);
    }

    [Fact]
    public async Task Unknown_malformed_or_ambiguous_ids_and_missing_stores_are_exit_2()
    {
        await using var bed = await OrchestratorTestBed.StartAsync("sqlite");
        await bed.MigrateAndWait("ok-ids");

        foreach (var (args, message) in new (string[], string)[]
                 {
                     (["status", Guid.NewGuid().ToString(), "--db", bed.Database], "no migration"),
                     (["status", "zz-top", "--db", bed.Database], "'zz-top' is not a migration id"),
                     (["status", "abc", "--db", bed.Database], "'abc' is not a migration id"),
                     (["status", "--db", "/nonexistent/orchestrator.db"], "--db '/nonexistent/orchestrator.db' does not exist"),
                 })
        {
            var run = await OrchestratorTestBed.Cli(args);
            Assert.True(run.ExitCode == 2, $"{string.Join(' ', args)}: exit {run.ExitCode} {run.Stderr}");
            Assert.Contains(message, run.Stderr);
            Assert.Single(run.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        }
    }
}
