using Teleport.Contracts;
using static Teleport.Orchestrator.Tests.MigrationScript;
using static Teleport.Orchestrator.Tests.SagaTestHost;
using static Teleport.Orchestrator.Tests.WholeVmScript;

namespace Teleport.Orchestrator.Tests;

/// <summary>
/// A whole-VM move with the fenced cut-over, scripted workers: at pre-switchover FinalSync, ContinueVmMigration and the
/// destination's ResumeVm go at once, the destination host resumes before the disk's verdict, and the saga waits in CompletingTail for it. After the
/// destination's VmResumed nothing rolls back: a failed tail ends Failed, incomplete, only the source aborted.
/// </summary>
public sealed class FencedWholeVmSagaTests
{
    private static MigrationRequested FencedRequest(Guid id)
    {
        var request = WholeVmRequest(id);
        return request with { Options = request.Options with { VolumeBytes = 1L << 30, FencedCutover = true } };
    }

    // MigratingMemory -> (pre-switchover) StartingOnDestination, with FinalSync, ContinueVmMigration and ResumeVm sent together.
    private static async Task DriveToResumeAhead(SagaTestHost host, WholeVmScript m)
    {
        await m.DriveTo("MigratingMemory", start: FencedRequest(m.Id));
        // Fenced, the source host goes on at pre-switchover by itself; the saga's ContinueVmMigration then collects the figures.
        Assert.True((await host.Sent<MigrateVmMemory>(m.Id, HostQueue(Host))).ContinueAtSwitchover);
        await host.Publish(m.PreSwitchover());
        await host.Sent<FinalSync>(m.Id, StorageQueue(Source));
        await host.Sent<ContinueVmMigration>(m.Id, HostQueue(Host));
        await host.Sent<ResumeVm>(m.Id, HostQueue(DestinationHost));
        await host.WaitForState(m.Id, "StartingOnDestination");
    }

    // ... -> (the destination's VmResumed) CompletingTail; the source's VmMemoryMigrated before or after it.
    private static async Task DriveToTail(SagaTestHost host, WholeVmScript m, bool memoryFirst = true)
    {
        await DriveToResumeAhead(host, m);
        if (memoryFirst)
        {
            await host.Publish(m.MemoryMigrated());
            await host.WaitFor(m.Id, r => r.Run.MemoryMigratedAt is not null, "memory migrated");
        }

        await host.Publish(m.ResumedOnDestination());
        var row = await host.WaitForState(m.Id, "CompletingTail");
        Assert.Equal(MigrationPhases.Tail, row.Phase);
        if (!memoryFirst)
        {
            await host.Publish(m.MemoryMigrated());
            await host.WaitFor(m.Id, r => r.Run.MemoryMigratedAt is not null, "memory migrated in the tail");
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Continues_the_memory_at_pre_switchover_resumes_before_the_verdict_and_succeeds_once_the_tail_verifies(bool memoryFirst)
    {
        await using var host = await StartAsync();
        var m = new WholeVmScript(host);
        await DriveToTail(host, m, memoryFirst);

        var tail = (await host.Row(m.Id))!;
        Assert.False(tail.Run.DestinationVerified);
        // Pre-switchover at 50 s, the destination's VmResumed at 50.4 s: the pause is over, and none of it was the disk's.
        Assert.Equal((400.0, 0.0), (Math.Round(tail.Run.DowntimeMilliseconds!.Value, 3), tail.Run.StorageDowntimeMilliseconds!.Value));
        Assert.Equal((0, 0, 0), (host.PublishedCount<MigrationSucceeded>(m.Id), host.SentCount<ReleaseSourceVolume>(m.Id), host.SentCount<StopSourceVm>(m.Id)));
        // A cancel changes nothing: the VM runs on the destination, there is nothing to undo.
        await host.PublishAndSettle(new CancelMigration(m.Id, "operator"));
        Assert.Equal("CompletingTail", (await host.Row(m.Id))!.CurrentState);

        await host.Publish(m.Disk.Completed());
        await host.WaitForState(m.Id, "Succeeded");
        var succeeded = await host.Published<MigrationSucceeded>(m.Id);
        Assert.Equal((DestinationHost, 400.0, 0.0, 85.5),
            (succeeded.DestinationHostId, Math.Round(succeeded.DowntimeMilliseconds, 3), succeeded.StorageDowntimeMilliseconds, succeeded.QemuDowntimeMilliseconds));
        await host.Sent<ReleaseSourceVolume>(m.Id, StorageQueue(Source));
        await host.Sent<StopSourceVm>(m.Id, HostQueue(Host));
        // The source VM was never asked to resume, and nothing was discarded or aborted.
        Assert.Equal((1, 0, 0), (host.SentCount<ResumeVm>(m.Id), host.SentCount<DiscardIncomingVm>(m.Id), host.SentCount<AbortTransfer>(m.Id)));
        host.AssertNoFaults();
    }

    [Fact]
    public async Task A_verified_verdict_before_the_destination_resumed_ends_the_move_at_the_resume()
    {
        await using var host = await StartAsync();
        var m = new WholeVmScript(host);
        await DriveToResumeAhead(host, m);

        await host.Publish(m.Disk.Completed());
        await host.WaitFor(m.Id, r => r.Run.DestinationVerified, "the verdict recorded in StartingOnDestination");
        await host.Publish(m.ResumedOnDestination());
        await host.WaitFor(m.Id, r => r.Run.ResumedAt is not null, "the resume recorded");
        // The source's figures are still missing: the move ends with them.
        Assert.Equal(0, host.PublishedCount<MigrationSucceeded>(m.Id));
        await host.Publish(m.MemoryMigrated());

        var row = await host.WaitForState(m.Id, "Succeeded");
        Assert.Equal(0, row.Run.StorageDowntimeMilliseconds!.Value);
        Assert.Equal(1, host.PublishedCount<MigrationSucceeded>(m.Id));
        await host.Sent<StopSourceVm>(m.Id, HostQueue(Host));
        host.AssertNoFaults();
    }

    [Fact]
    public async Task An_unverified_verdict_before_the_destination_answered_waits_for_it_and_its_failed_resume_rolls_back()
    {
        await using var host = await StartAsync();
        var m = new WholeVmScript(host);
        await DriveToResumeAhead(host, m);

        // `cont` may run on the destination any moment: the verdict alone rolls nothing back.
        await host.PublishAndSettle(m.Disk.Completed(verified: false));
        Assert.Equal((0, 0), (host.SentCount<DiscardIncomingVm>(m.Id), host.SentCount<AbortTransfer>(m.Id)));
        Assert.Equal("StartingOnDestination", (await host.Row(m.Id))!.CurrentState);

        // The destination's memory stream failed: it never ran the guest, the source takes the VM back.
        await host.Publish(m.HostFailed(HostOperationNames.Resume, DestinationHost));
        await host.Sent<DiscardIncomingVm>(m.Id, HostQueue(DestinationHost));
        // The first ResumeVm was the cont asked of the destination; the second resumes the source.
        Assert.Equal(new ResumeVm(m.Id, Vm, Host), await host.Sent<ResumeVm>(m.Id, HostQueue(Host), index: 1));
        await host.WaitForState(m.Id, "RollingBackResume");
        host.AssertNoFaults();
    }

    [Theory]
    [InlineData("unverified", "could not verify")]
    [InlineData("unverified while resuming", "could not verify")]
    [InlineData("storage failed", "storage dst-1 failed in copy: disk read error")]
    [InlineData("deadline", "deadline of state CompletingTail passed")]
    public async Task A_tail_failing_after_the_destination_resumed_fails_without_rollback_keeping_the_source(string how, string reason)
    {
        var settings = DefaultSettings();
        settings.TailTimeout = TimeSpan.FromSeconds(30);
        await using var host = await StartAsync(settings);
        var m = new WholeVmScript(host);
        if (how == "unverified while resuming")
        {
            // `cont` may already run: the verdict is recorded and the destination host's answer decides.
            await DriveToResumeAhead(host, m);
            await host.Publish(m.Disk.Completed(verified: false));
            await host.WaitFor(m.Id, r => r.Run.CompletedAt is not null, "the verdict recorded in StartingOnDestination");
            Assert.Equal("StartingOnDestination", (await host.Row(m.Id))!.CurrentState);
            await host.Publish(m.ResumedOnDestination());
        }
        else
        {
            await DriveToTail(host, m);
            await FencedCutoverSagaTests.FailTail(host, m.Disk, how);
        }

        var row = await host.WaitForState(m.Id, "Failed");
        var failed = await host.Published<MigrationFailed>(m.Id);
        Assert.Contains(reason, failed.Reason, StringComparison.Ordinal);
        Assert.Contains("not rolled back, the source volume on storage src-1 is kept", failed.Reason, StringComparison.Ordinal);
        Assert.True(row.Run.RollbackIncomplete);
        // Only the source storage is stopped; the destination keeps serving the VM; the source VM is not resumed.
        Assert.Equal(Source, (await host.Sent<AbortTransfer>(m.Id, StorageQueue(Source))).StorageId);
        Assert.Equal((1, 0, 0), (host.SentCount<AbortTransfer>(m.Id), host.SentCount<DiscardIncomingVm>(m.Id), host.SentCount<ReleaseSourceVolume>(m.Id)));
        Assert.Empty(host.Harness.Sent.Select<ResumeVm>(x => x.Context.Message.MigrationId == m.Id && x.Context.Message.HostId == Host));
        Assert.Equal(0, host.PublishedCount<MigrationSucceeded>(m.Id));
        host.AssertNoFaults();
    }
}
