using Teleport.Contracts;
using Teleport.Host.Tests.Support;
using Teleport.Host.Workload;

namespace Teleport.Host.Tests;

/// <summary>
/// The fenced cut-over's MigrateVmMemory with ContinueAtSwitchover: the source host runs migrate-continue itself at
/// pre-switchover (no ContinueVmMigration in the pause). The destination still runs the VM only on ResumeVm, so until
/// then a rollback's ResumeVm on the source runs the guest on there, with nothing lost.
/// </summary>
public sealed partial class WholeVmMoveTests
{
    [Fact]
    public async Task GuestWriting_MovesWhole_ContinuingAtSwitchover_WithoutContinueVmMigration()
    {
        await using var rig = await WholeVmRig.StartAsync(_dir, Records, Run);
        await MoveWholeAsync(rig, new MemoryMigrationOptions(Multifd: true, MultifdChannels: 2), continueAtSwitchover: true);
    }

    [Fact]
    public async Task ContinuedAtSwitchover_ThenRolledBack_TheSourceRunsOn_NothingLost_TheIncomingNeverRan()
    {
        const ulong run = Run + 2;
        await using var rig = await WholeVmRig.StartAsync(_dir, 12_000, run);
        await WaitForAsync(() => TestGuest.LastProgress(rig.Qemu.Output) >= 100, TimeSpan.FromSeconds(120), "the workload to reach record 100", rig);
        var migration = Guid.NewGuid();
        var described = Assert.IsType<VmDescribed>(await rig.DescribeAsync(migration));
        var prepared = Assert.IsType<IncomingVmPrepared>(await rig.PrepareAsync(migration, described.Definition, _dir.File("b.sock")));
        var incoming = rig.Destination.Vm(WholeVmRig.VmId).Incoming!.Qemu;

        Assert.IsType<MemoryPreSwitchover>(await rig.MigrateAsync(migration, prepared.MigrationEndpoint, null, [], continueAtSwitchover: true));
        Assert.Equal("completed", await SourceStatusAsync(rig, s => s is "completed" or "failed" or "cancelled"));
        long atPause = TestGuest.LastProgress(rig.Qemu.Output);

        // The saga rolled back before it sent the destination's ResumeVm: the source runs again (QEMU reactivates its
        // disk after a completed migration), the incoming QEMU is discarded without ever having run.
        Assert.IsType<VmResumed>(await rig.Source.Node.Operations.ResumeAsync(new ResumeVm(migration, WholeVmRig.VmId, rig.Source.HostId), CancellationToken.None));
        Assert.True(await QueryRunningAsync(rig));
        await WaitForAsync(() => TestGuest.LastProgress(rig.Qemu.Output) >= atPause + 100, TimeSpan.FromSeconds(60), "the guest to keep writing on the source", rig);
        Assert.IsType<IncomingVmDiscarded>(await rig.Destination.Node.Incoming.DiscardAsync(
            new DiscardIncomingVm(migration, WholeVmRig.VmId, rig.Destination.HostId), CancellationToken.None));
        Assert.True(incoming.HasExited);
        Assert.DoesNotContain("TPW seq", rig.DestinationConsole);

        // A late ContinueVmMigration of the rolled-back attempt does not report a move the source undid.
        Assert.IsNotType<VmMemoryMigrated>(await rig.Source.Node.Memory.ContinueAsync(
            new ContinueVmMigration(migration, WholeVmRig.VmId, rig.Source.HostId), CancellationToken.None));

        Assert.IsType<VmPaused>(await rig.Source.Node.Operations.PauseAsync(new PauseVm(Guid.NewGuid(), WholeVmRig.VmId, rig.Source.HostId), CancellationToken.None));
        long reported = TestGuest.LastProgress(rig.Qemu.Output);
        var source = await WorkloadVerifier.VerifyAsync(rig.A.FilePath, run);
        Assert.True(source.IsIntact, $"source after the rollback: {source}");
        Assert.Equal(source.HighestSequence + 1, source.ValidRecords);
        Assert.InRange(source.HighestSequence, reported, 12_000 - 1);
        Assert.DoesNotContain("I/O error", rig.Qemu.Output);
        output.WriteLine($"continued at pre-switchover after record {atPause}, rolled back; {source.ValidRecords} records intact on the source");
    }
}
