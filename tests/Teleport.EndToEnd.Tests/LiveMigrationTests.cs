using Teleport.Contracts;
using Teleport.EndToEnd.Tests.Fixtures;
using Teleport.Host.Workload;
using Xunit.Abstractions;

namespace Teleport.EndToEnd.Tests;

/// <summary>
/// A live migration with every part real: the workload guest writes numbered records through the host worker's path
/// switcher to the source storage worker while the orchestrator's saga migrates the volume to the destination storage
/// worker over the real RabbitMQ (prepare, index, request, copy rounds, pause, switch + final sync, resume).
/// </summary>
public sealed class LiveMigrationTests(ITestOutputHelper output)
{
    private const ulong Run = 11;

    [Fact]
    public async Task GuestKeepsWriting_WhileTheSagaMigratesItsVolume_EveryRecordEndsOnTheDestinationInOrder()
    {
        var workload = GuestWorkload.Writing(Run);
        await using var world = await MigrationWorld.StartAsync(workload);
        await world.Guest.WaitForAsync(g => g.LastProgress >= 300, TimeSpan.FromSeconds(120), "the workload to reach record 300");

        long atRequest = world.Guest.LastProgress;
        var id = await world.RequestMigrationAsync();
        object outcome = await world.Watch.OutcomeAsync(id, TimeSpan.FromSeconds(120));
        var succeeded = Assert.IsType<MigrationSucceeded>(outcome);
        long atSuccess = world.Guest.LastProgress;
        output.WriteLine($"migration {id}: {world.Watch.Describe(id)}");

        // Every phase happened (delivery is at least once: a repeated event is the same answer again), attempt 1
        // echoed by the host.
        var events = world.Watch.Of(id).Select(e => e.Message).ToList();
        Assert.NotEmpty(events.OfType<DestinationPrepared>());
        Assert.NotEmpty(events.OfType<IndexStreamed>());
        Assert.NotEmpty(events.OfType<BlocksRequested>());
        Assert.NotEmpty(events.OfType<DirtyBelowThreshold>());
        var paused = Assert.Single(events.OfType<VmPaused>().Distinct());
        var switched = Assert.Single(events.OfType<TargetSwitched>().Distinct());
        var completed = Assert.Single(events.OfType<MigrationCompleted>().Distinct());
        var resumed = Assert.Single(events.OfType<VmResumed>().Distinct());
        Assert.Empty(events.OfType<HostOperationFailed>());
        Assert.True(completed.Verified);
        Assert.Equal((world.Host.Id, 1), (paused.HostId, paused.Attempt));
        Assert.Equal(world.Destination.Id, switched.StorageId);
        Assert.Equal(world.Destination.Id, world.Host.Node.Vms[MigrationWorld.VmId].CurrentStorageId);
        var downtime = DowntimeReport.From(world.Watch, id);
        output.WriteLine(downtime.ToString());
        Assert.Equal((resumed.ResumedAt - paused.PausedAt).TotalMilliseconds, succeeded.DowntimeMilliseconds, 3);

        await world.Guest.WaitForAsync(g => g.HasExited, TimeSpan.FromSeconds(240), "the guest to finish its records and power off");
        string console = world.Guest.Console;
        Assert.Contains($"TPW done last={workload.Records - 1}", console);
        Assert.Contains("TPW exit 0", console);
        Assert.DoesNotContain("I/O error", console);

        // The guest wrote before the migration, during it (up to the pause) and after the cut-over.
        var source = await WorkloadVerifier.VerifyAsync(world.SourceVolume, Run);
        output.WriteLine($"progress at request {atRequest}, at success {atSuccess}; source stops at record {source.HighestSequence}");
        Assert.True(source.IsIntact, $"source: {source}");
        Assert.InRange(source.HighestSequence, atRequest, workload.Records - 100);

        var destination = await WorkloadVerifier.VerifyAsync(world.DestinationVolume, Run);
        Assert.True(destination.IsIntact, $"destination: {destination}");
        Assert.Equal(workload.Records - 1, destination.HighestSequence);
        Assert.Equal(workload.Records, destination.ValidRecords);
    }
}
