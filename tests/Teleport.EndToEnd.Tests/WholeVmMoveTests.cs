using Teleport.Contracts;
using Teleport.EndToEnd.Tests.Fixtures;
using Teleport.Host.Worker;
using Teleport.Host.Workload;
using Xunit.Abstractions;

namespace Teleport.EndToEnd.Tests;

/// <summary>
/// Whole-VM moves through the real saga on the real RabbitMQ, two host workers and two storage workers, with the test
/// guest writing numbered records in the source QEMU.
/// </summary>
public sealed class WholeVmMoveTests(ITestOutputHelper output)
{
    private const ulong Run = 31;

    [Fact]
    public async Task GuestWriting_MovesWholeThroughTheSaga_WriterCarriesOnInTheDestinationQemu_EveryRecordOnTheDestination()
    {
        var succeeded = await MoveWholeAndCarryOnAsync(new GuestWorkload(3000, 1500, Run), options: null);
        Assert.True(succeeded.StorageDowntimeMilliseconds > 0, "the verified cut-over waits for the disk's final sync with the vCPUs stopped");
        Assert.False(succeeded.PostCopy, "a guest whose memory pre-copy converges does not go post-copy");
    }

    [Fact]
    public async Task GuestDirtyingMemoryFasterThanTheLink_MovesWholeThroughPostCopy_WriterCarriesOn_EveryRecordOnTheDestination()
    {
        // 4 MiB/s for memory and disk against a guest rewriting 24 MiB of memory in a loop: pre-copy never converges, and
        // after two passes without the dirty memory shrinking the source host starts post-copy. The writer is paced (20 ms a
        // record: at least 80 s) so that it is still writing when the VM moves however fast the machine runs it (unpaced, an
        // idle machine's guest finished its records before the pre-copy gave up, and powered off).
        var options = new MigrationOptions(BandwidthBytesPerSecond: 4 << 20, Memory: new MemoryMigrationOptions(PostCopyAfterRounds: 2));
        var succeeded = await MoveWholeAndCarryOnAsync(new GuestWorkload(4000, 20_000, Run + 7, ProgressEvery: 100, DirtyMiB: 24), options);
        Assert.True(succeeded.PostCopy, "the move went post-copy");
    }

    [Fact]
    public async Task GuestWriting_MovesWholeFenced_DestinationResumesBeforeTheDisksVerdict_WriterCarriesOn_EveryRecordOnTheDestination()
    {
        // migrate-continue goes with FinalSync: the incoming QEMU's disk reaches the fenced export once it is served.
        var options = new MigrationOptions(VolumeBytes: MigrationWorld.DefaultVolumeBytes, FencedCutover: true);
        var succeeded = await MoveWholeAndCarryOnAsync(new GuestWorkload(3000, 1500, Run + 5), options);
        Assert.Equal(0, succeeded.StorageDowntimeMilliseconds);
    }

    // Moves the writing guest with the saga; the writer must carry on in the destination QEMU with every record there.
    private async Task<MigrationSucceeded> MoveWholeAndCarryOnAsync(GuestWorkload workload, MigrationOptions? options)
    {
        await using var world = await WholeVmWorld.StartAsync(workload);
        await WaitForAsync(() => WholeVmWorld.LastProgress(world.Guest.Output) >= 300, TimeSpan.FromSeconds(120), "the workload to reach record 300", world);

        var id = await world.RequestMoveAsync(options);
        object outcome = await world.Watch.OutcomeAsync(id, TimeSpan.FromSeconds(300));
        output.WriteLine($"move {id}: {world.Watch.Describe(id)}");
        string details = string.Join("; ", world.Watch.Of(id).Select(e => e.Message switch
        {
            HostOperationFailed f => $"HostOperationFailed({f.HostId} {f.Operation}: {f.Reason})",
            MigrationFailed f => $"MigrationFailed({f.Phase}: {f.Reason})",
            var m => m.GetType().Name,
        }).Distinct());
        Assert.True(outcome is MigrationSucceeded, $"expected MigrationSucceeded, got {outcome}; events: {details}");
        var succeeded = (MigrationSucceeded)outcome;
        Assert.Equal(world.DestinationHost.Id, succeeded.DestinationHostId);
        Assert.True(succeeded.MemoryBytes > 0, "memory bytes are reported");
        var preSwitchover = Assert.Single(world.Watch.Of(id).Select(e => e.Message).OfType<MemoryPreSwitchover>().Distinct());
        var resumed = Assert.Single(world.Watch.Of(id).Select(e => e.Message).OfType<VmResumed>().Distinct());
        Assert.Equal(world.DestinationHost.Id, resumed.HostId);
        Assert.True(Assert.Single(world.Watch.Of(id).Select(e => e.Message).OfType<MigrationCompleted>().Distinct()).Verified, "the destination verified");
        output.WriteLine($"memory {succeeded.MemoryBytes} B, downtime {succeeded.DowntimeMilliseconds:0} ms " +
            $"(QEMU {succeeded.QemuDowntimeMilliseconds:0}, storage {succeeded.StorageDowntimeMilliseconds:0}), paused at {preSwitchover.PausedAt:O}");

        // The source QEMU quits once the saga recorded success (StopSourceVm).
        await world.Guest.WaitForExitAsync(TimeSpan.FromSeconds(60));
        long lastOnSource = WholeVmWorld.LastProgress(world.Guest.Output);

        // The writer kept counting in the destination QEMU where it left off: no second boot, no gap, up to its last record.
        await WaitForAsync(() => world.DestinationConsole.Contains("TPW exit", StringComparison.Ordinal), TimeSpan.FromSeconds(240),
            "the guest to finish on the destination", world);
        string console = world.DestinationConsole;
        Assert.Contains($"TPW done last={workload.Records - 1}", console);
        Assert.Contains("TPW exit 0", console);
        Assert.DoesNotContain("TPW start", console);
        Assert.DoesNotContain("I/O error", console);
        var onDestination = WholeVmWorld.Progress(console);
        Assert.NotEmpty(onDestination);
        Assert.InRange(onDestination[0], lastOnSource, lastOnSource + workload.ProgressEvery);
        Assert.Equal(onDestination.Order(), onDestination);

        var destination = await WorkloadVerifier.VerifyAsync(world.DestinationVolume, workload.Run);
        Assert.True(destination.IsIntact, $"destination: {destination}");
        Assert.Equal(workload.Records - 1, destination.HighestSequence);
        Assert.Equal(workload.Records, destination.ValidRecords);
        return succeeded;
    }

    [Fact]
    public async Task An_incoming_QEMU_that_cannot_start_fails_the_move_the_guest_runs_on_at_the_source_and_loses_nothing()
    {
        var workload = new GuestWorkload(2000, 1500, Run + 1);
        // The destination's "QEMU" exits at once, as a broken or missing binary would.
        await using var world = await StartWritingAsync(workload, o => o.QemuBinary = "/bin/false");

        var id = await world.RequestMoveAsync();
        var (failed, events) = await FailedAsync(world, id);
        Assert.Contains("the incoming VM did not start", failed.Reason);
        Assert.Empty(events.OfType<MemoryPreSwitchover>());

        await AssertFinishedOnTheSourceAsync(world, workload);
    }

    [Fact]
    public async Task The_destination_host_worker_killed_during_the_memory_precopy_fails_the_move_the_guest_runs_on_at_the_source()
    {
        var workload = new GuestWorkload(3000, 1500, Run + 2);
        await using var world = await StartWritingAsync(workload);

        // A bandwidth cap keeps QEMU's memory pre-copy going for several progress reports: the kill lands inside it.
        var id = await world.RequestMoveAsync(new MigrationOptions(BandwidthBytesPerSecond: 8 << 20));
        await WaitForAsync(() => world.Watch.Last<MemoryMigrationProgress>(id) is not null, TimeSpan.FromSeconds(180), "the memory pre-copy's first progress", world);
        await world.DestinationHost.DisposeAsync(); // its bus goes away, and the incoming QEMU it started with it

        var (_, events) = await FailedAsync(world, id);
        Assert.Empty(events.OfType<MemoryPreSwitchover>());
        Assert.DoesNotContain(events.OfType<VmResumed>(), r => r.HostId == world.DestinationHost.Id);
        await AssertFinishedOnTheSourceAsync(world, workload);
    }

    [Fact]
    public async Task A_failing_migrate_continue_rolls_back_the_paused_source_resumes_and_loses_nothing()
    {
        var workload = new GuestWorkload(3000, 1500, Run + 3);
        await using var world = await StartWritingAsync(workload);

        // At pre-switchover (the source's vCPUs stopped) the incoming QEMU dies just before the source host runs
        // migrate-continue, so the migration cannot complete.
        using var kill = world.KillIncomingQemuBefore<ContinueVmMigration>(world.SourceHost);
        var id = await world.RequestMoveAsync();

        var (_, events) = await FailedAsync(world, id);
        Assert.True(await kill.Done, "the incoming QEMU ran when the source was told to continue");
        Assert.Contains(events.OfType<HostOperationFailed>(), f => f.Operation == HostOperationNames.ContinueMemory && f.HostId == world.SourceHost.Id);
        Assert.Empty(events.OfType<VmMemoryMigrated>());
        Assert.DoesNotContain(events.OfType<VmResumed>(), r => r.HostId == world.DestinationHost.Id);
        Assert.Contains(events.OfType<VmResumed>(), r => r.HostId == world.SourceHost.Id);
        await AssertFinishedOnTheSourceAsync(world, workload);
    }

    [Fact]
    public async Task An_incoming_QEMU_that_dies_before_its_cont_is_discarded_the_source_runs_on_and_loses_nothing()
    {
        var workload = new GuestWorkload(3000, 1500, Run + 4);
        await using var world = await StartWritingAsync(workload);

        // ResumeVm reaches the destination with the source's migrate-continue: the incoming QEMU dies just as the
        // destination host takes it, before the 'cont' it would run once its memory stream completed. Past the saga's
        // point of no return only the destination's own answer rolls back: it did not resume.
        using var kill = world.KillIncomingQemuBefore<ResumeVm>(world.DestinationHost);
        var id = await world.RequestMoveAsync();

        var (failed, events) = await FailedAsync(world, id);
        Assert.True(await kill.Done, "the incoming QEMU ran when the destination was told to resume");
        Assert.Contains($"host {world.DestinationHost.Id} could not resume", failed.Reason, StringComparison.Ordinal);
        Assert.Contains(events.OfType<HostOperationFailed>(), f => f.Operation == HostOperationNames.Resume && f.HostId == world.DestinationHost.Id);
        Assert.DoesNotContain(events.OfType<VmResumed>(), r => r.HostId == world.DestinationHost.Id);
        // The dead VM never ran on the destination, so the rollback's discard clears it there.
        await WaitForAsync(() => world.Watch.Last<IncomingVmDiscarded>(id) is not null, TimeSpan.FromSeconds(60), "the incoming VM discarded", world);
        Assert.DoesNotContain(world.Watch.Of(id).Select(e => e.Message).OfType<HostOperationFailed>(), f => f.Operation == HostOperationNames.DiscardIncoming);
        Assert.False(world.DestinationHost.Node.Vms.ContainsKey(MigrationWorld.VmId));
        Assert.Contains(events.OfType<VmResumed>(), r => r.HostId == world.SourceHost.Id);
        await AssertFinishedOnTheSourceAsync(world, workload);
    }

    // A world whose guest writes in the source QEMU, 200 records in.
    private static async Task<WholeVmWorld> StartWritingAsync(GuestWorkload workload, Action<HostWorkerOptions>? destinationHost = null)
    {
        var world = await WholeVmWorld.StartAsync(workload, destinationHost: destinationHost);
        try
        {
            await WaitForAsync(() => WholeVmWorld.LastProgress(world.Guest.Output) >= 200, TimeSpan.FromSeconds(120), "the workload to reach record 200", world);
            return world;
        }
        catch
        {
            await world.DisposeAsync();
            throw;
        }
    }

    // The move must end failed; its reason is printed, its events returned.
    private async Task<(MigrationFailed Failed, List<object> Events)> FailedAsync(WholeVmWorld world, Guid id)
    {
        var failed = Assert.IsType<MigrationFailed>(await world.Watch.OutcomeAsync(id, TimeSpan.FromSeconds(180)));
        output.WriteLine($"move {id} failed in {failed.Phase}: {failed.Reason}");
        return (failed, [.. world.Watch.Of(id).Select(e => e.Message)]);
    }

    // The guest was never lost: it writes its last record on the source, in one boot, and powers off; every record is on the source.
    private static async Task AssertFinishedOnTheSourceAsync(WholeVmWorld world, GuestWorkload workload)
    {
        await world.Guest.WaitForExitAsync(TimeSpan.FromSeconds(240));
        string console = world.Guest.Output;
        Assert.Contains($"TPW done last={workload.Records - 1}", console);
        Assert.DoesNotContain("I/O error", console);
        var progress = WholeVmWorld.Progress(console);
        Assert.Equal(progress.Order(), progress);
        var source = await WorkloadVerifier.VerifyAsync(world.SourceVolume, workload.Run);
        Assert.True(source.IsIntact, $"source: {source}");
        Assert.Equal(workload.Records, source.ValidRecords);
    }

    private static async Task WaitForAsync(Func<bool> condition, TimeSpan timeout, string what, WholeVmWorld world)
    {
        var until = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > until)
                throw new TimeoutException($"Gave up waiting for {what}; source console:\n{world.Guest.Output}\ndestination console:\n{world.DestinationConsole}");
            await Task.Delay(50);
        }
    }
}
