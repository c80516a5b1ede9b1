using Teleport.Contracts;
using Teleport.EndToEnd.Tests.Fixtures;
using Teleport.Host.Workload;
using Xunit.Abstractions;

namespace Teleport.EndToEnd.Tests;

/// <summary>
/// A storage worker fails in the middle of a live migration of the writing guest: the saga rolls back, the VM keeps
/// running on the source without a pause, and every record the guest writes, before and after, is on the source.
/// </summary>
public sealed class RollbackTests(ITestOutputHelper output)
{
    private const ulong Run = 21;

    [Fact]
    public async Task Destination_worker_stops_mid_copy_the_migration_rolls_back_and_the_guest_loses_nothing()
    {
        var workload = GuestWorkload.Writing(Run);
        await using var world = await MigrationWorld.StartAsync(
            workload,
            // Copy round after round while the guest writes, so the failure surely lands mid-copy.
            storage: o =>
            {
                o.DirtyThresholdBlocks = 0;
                o.MaxCopyRounds = 100_000;
            },
            // A source that keeps trying to reach the vanished destination is stopped by the copy deadline.
            orchestrator: o =>
            {
                o.Settings.CopyTimeout = TimeSpan.FromSeconds(30);
                o.Settings.SweepInterval = TimeSpan.FromSeconds(1);
            });
        await world.Guest.WaitForAsync(g => g.LastProgress >= 300, TimeSpan.FromSeconds(120), "the workload to reach record 300");

        // 512 KiB/s against a guest writing faster: the copy cannot catch up, so it is still copying when the destination goes.
        var id = await OrchestratorRequests.SendAsync(world.Watch.Bus, world.Orchestrator.Options.QueueName,
            MigrationWorld.VmId, MigrationWorld.Volume, world.Source.Id, world.Destination.Id, world.Host.Id,
            new MigrationOptions(BandwidthBytesPerSecond: 512 * 1024));
        var until = DateTime.UtcNow.AddSeconds(60);
        while (world.Watch.Last<CopyRoundCompleted>(id) is null)
        {
            Assert.True(DateTime.UtcNow < until, $"no copy round within 60 s: {world.Watch.Describe(id)}");
            await Task.Delay(20);
        }

        long atFailure = world.Guest.LastProgress;
        await world.Destination.DisposeAsync();

        var failed = Assert.IsType<MigrationFailed>(await world.Watch.OutcomeAsync(id, TimeSpan.FromSeconds(120)));
        output.WriteLine($"migration {id} failed in {failed.Phase}: {failed.Reason} (guest at record {atFailure} when the destination stopped)");
        Assert.Equal(world.Source.Id, world.Host.Node.Vms[MigrationWorld.VmId].CurrentStorageId);
        // A guest starved of CPU (a loaded machine) can write nothing for a whole round, so the copy may converge just
        // before the destination goes: the rollback then starts from the cut-over and must end the same (checked
        // above and below). Otherwise the guest was never paused.
        if (failed.Phase != "CutOver")
        {
            Assert.Contains(failed.Phase, new[] { "Index", "Request", "Copy" });
            Assert.Null(world.Watch.Last<VmPaused>(id));
            Assert.Null(world.Watch.Last<TargetSwitched>(id));
        }

        await world.Watch.AbortedAsync(id, world.Source.Id, TimeSpan.FromSeconds(30));

        // The guest never noticed: it writes its last record and powers off; all of them are on the source, in order.
        await world.Guest.WaitForAsync(g => g.HasExited, TimeSpan.FromSeconds(240), "the guest to finish its records and power off");
        Assert.Contains($"TPW done last={workload.Records - 1}", world.Guest.Console);
        Assert.DoesNotContain("I/O error", world.Guest.Console);
        var source = await WorkloadVerifier.VerifyAsync(world.SourceVolume, Run);
        Assert.True(source.IsIntact, $"source: {source}");
        Assert.Equal(workload.Records - 1, source.HighestSequence);
        Assert.Equal(workload.Records, source.ValidRecords);
    }
}
