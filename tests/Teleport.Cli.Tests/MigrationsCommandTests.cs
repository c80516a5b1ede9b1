namespace Teleport.Cli.Tests;

/// <summary>`teleport migrations retry|cancel` through a real orchestrator; refusals before anything is sent.</summary>
[Collection(OrchestratorCollection.Name)]
public sealed class MigrationsCommandTests
{
    [Fact]
    public async Task Retry_restarts_a_failed_migration_which_then_succeeds_as_attempt_2()
    {
        await using var bed = await OrchestratorTestBed.StartAsync("sqlite");
        var (failed, id) = await bed.MigrateAndWait("fail-retry");
        Assert.Equal(1, failed.ExitCode);
        await bed.WaitForState(id, "Failed");

        var run = await OrchestratorTestBed.Cli("migrations", "retry", id.ToString(), "--db", bed.Database,
            "--orchestrator-queue", bed.Queue, "--bus", OrchestratorTestBed.Rabbit);

        Assert.True(run.ExitCode == 0, run.Stderr);
        var row = await bed.WaitForState(id, "Succeeded");
        Assert.Equal(2, row.GetProperty("attempt").GetInt32());
        Assert.Equal(204_800, row.GetProperty("bytesOnWire").GetInt64());
    }

    [Fact]
    public async Task Cancel_rolls_a_running_migration_back_and_keeps_the_reason()
    {
        await using var bed = await OrchestratorTestBed.StartAsync("postgres");
        var id = Guid.NewGuid();
        var started = await OrchestratorTestBed.Cli("migrate", "--vm", "vm-c", "--volume", "stall-cancel", "--from", bed.Source, "--to", bed.Destination,
            "--host", bed.Host, "--id", id.ToString(), "--bus", OrchestratorTestBed.Rabbit, "--orchestrator-queue", bed.Queue);
        Assert.Equal(0, started.ExitCode);
        await bed.WaitForState(id, "Indexing");

        var run = await OrchestratorTestBed.Cli("migrations", "cancel", id.ToString(), "--reason", "change window closed", "--db", bed.Database,
            "--orchestrator-queue", bed.Queue, "--bus", OrchestratorTestBed.Rabbit);

        Assert.True(run.ExitCode == 0, run.Stderr);
        var row = await bed.WaitForState(id, "Failed");
        Assert.Equal("cancelled: change window closed", row.GetProperty("reason").GetString());
        Assert.Equal("Index", row.GetProperty("failedPhase").GetString());

        // Over now: a second cancel and a retry of the right kind are told apart before anything is sent.
        var again = await OrchestratorTestBed.Cli("migrations", "cancel", id.ToString(), "--reason", "again", "--db", bed.Database, "--bus", OrchestratorTestBed.Rabbit);
        Assert.Equal(2, again.ExitCode);
        Assert.Contains("already Failed: nothing to cancel", again.Stderr);
    }

    [Fact]
    public async Task Unknown_ids_and_wrong_states_are_refused_with_exit_2_when_the_store_is_given()
    {
        await using var bed = await OrchestratorTestBed.StartAsync("sqlite");
        var (ok, okId) = await bed.MigrateAndWait("ok-refuse");
        Assert.Equal(0, ok.ExitCode);
        string rabbit = OrchestratorTestBed.Rabbit;

        foreach (var (args, message) in new (string[], string)[]
                 {
                     (["migrations", "retry", Guid.NewGuid().ToString(), "--db", bed.Database, "--bus", rabbit], "no migration"),
                     (["migrations", "retry", okId.ToString(), "--db", bed.Database, "--bus", rabbit], "is Succeeded: only a Failed migration can be retried"),
                     (["migrations", "cancel", okId.ToString(), "--reason", "x", "--db", bed.Database, "--bus", rabbit], "already Succeeded"),
                     (["migrations", "retry", "not-a-guid", "--bus", rabbit], "'not-a-guid' is not a migration id"),
                     (["migrations", "cancel", okId.ToString(), "--bus", rabbit], "--reason is required"),
                     (["migrations", "retry", okId.ToString(), "--bus", "memory"], "--bus memory exists only inside one process"),
                 })
        {
            var run = await OrchestratorTestBed.Cli(args);
            Assert.True(run.ExitCode == 2, $"{string.Join(' ', args)}: exit {run.ExitCode} {run.Stderr}");
            Assert.Contains(message, run.Stderr);
            Assert.Single(run.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        }
    }
}
