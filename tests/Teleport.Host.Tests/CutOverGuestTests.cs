using System.Net.Sockets;
using Teleport.Contracts;
using Teleport.Host.Switching;
using Teleport.Host.Tests.Support;
using Teleport.Host.Workload;
using Teleport.Nbd.Exports;
using Teleport.Nbd.Server;
using Xunit.Abstractions;

namespace Teleport.Host.Tests;

/// <summary>
/// The cut-over's host side with the real guest writing sequenced records through the host worker, over the real
/// broker: a PauseVm that names the switch's target makes the host connect there before the pause, so the switch
/// opens no connection; a PauseVm with a budget is ended by the host itself (switch back, resume on the source) when
/// the broker is cut off from it during the cut-over, and no record is lost.
/// </summary>
public sealed class CutOverGuestTests(ITestOutputHelper output) : IDisposable
{
    private const int Records = 3000;
    private const long VolumeSize = 16L * 1024 * 1024;

    /// <summary>How far past its budget the host may resume the VM on this loaded 2-core machine (switch back + QMP cont).</summary>
    private static readonly TimeSpan Margin = TimeSpan.FromMilliseconds(1000);

    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task PauseVm_naming_the_target_preconnects_so_the_switch_opens_no_connection_and_every_record_lands()
    {
        const ulong run = 11;
        // Storage B as the destination is before its final sync: its server runs, the export is not there yet. The host
        // reaches it through a relay (at the socket its configuration names for store-b) that counts connections.
        var registry = new NbdExportRegistry();
        await using var server = new NbdServer(registry);
        server.Listen(new UnixDomainSocketEndPoint(_dir.File("b-server.sock")));
        await using var relay = CuttableRelay.Start(new UnixDomainSocketEndPoint(_dir.File("b.sock")), new UnixDomainSocketEndPoint(_dir.File("b-server.sock")));
        await using var rig = await HostRig.StartAsync(_dir, VolumeSize, qemuArguments: disk => TestGuest.Arguments(disk, Records, run));
        string host = rig.HostId;
        var id = Guid.NewGuid();
        await TestGuest.WaitForAsync(rig.Qemu, () => TestGuest.LastProgress(rig.Qemu.Output) >= 500, TimeSpan.FromSeconds(120), "the workload to reach record 500");

        // The endpoint in the message is not used: the host connects where its configuration puts store-b.
        var pause = new PauseVm(id, HostRig.VmId, host, 1, "store-b", "unix:/nowhere.sock", HostRig.Export);
        Assert.IsType<VmPaused>(await rig.Probe.AskAsync(host, pause, id));
        Assert.Equal(1, relay.Accepted);
        Assert.Equal(new UpstreamTarget(new UnixDomainSocketEndPoint(_dir.File("b.sock")), HostRig.Export), rig.Vm.Switcher!.Preconnected);

        // The final sync's stand-in, then the destination exports the volume.
        var atPause = await WorkloadVerifier.VerifyAsync(rig.A.FilePath, run);
        Assert.InRange(atPause.HighestSequence, 499, Records - 2);
        int writesOnA = rig.A.Export.Writes.Count;
        File.Copy(rig.A.FilePath, _dir.File("b.img"));
        var b = new RecordingExport(new FileNbdExport(HostRig.Export, _dir.File("b.img"), readOnly: false));
        registry.Add(b);

        Assert.IsType<TargetSwitched>(await rig.Probe.AskAsync(host,
            new SwitchTarget(id, HostRig.VmId, host, HostRig.Export, "store-b", "unix:/nowhere.sock", HostRig.Export), id));
        Assert.Equal(1, relay.Accepted);
        Assert.Null(rig.Vm.Switcher.Preconnected);
        Assert.IsType<VmResumed>(await rig.Probe.AskAsync(host, new ResumeVm(id, HostRig.VmId, host, StorageId: "store-b"), id));

        await TestGuest.FinishesAsync(rig.Qemu, Records);
        Assert.Equal(1, relay.Accepted);
        var destination = await WorkloadVerifier.VerifyAsync(_dir.File("b.img"), run);
        Assert.True(destination.IsIntact, $"destination: {destination}");
        Assert.Equal(Records, destination.ValidRecords);
        Assert.Equal(writesOnA, rig.A.Export.Writes.Count);
        Assert.NotEmpty(b.Writes);
    }

    [Fact]
    public async Task Broker_cut_off_during_the_cut_over_the_host_ends_the_pause_within_its_budget_on_the_source()
    {
        const ulong run = 12;
        const int budgetMs = 1500;
        await using var broker = await BrokerRelay.StartAsync();
        var relay = broker.Relay;
        await using var rig = await HostRig.StartAsync(_dir, VolumeSize, o => o.Bus = broker.Bus, disk => TestGuest.Arguments(disk, Records, run));
        string host = rig.HostId;
        var id = Guid.NewGuid();
        await TestGuest.WaitForAsync(rig.Qemu, () => TestGuest.LastProgress(rig.Qemu.Output) >= 500, TimeSpan.FromSeconds(120), "the workload to reach record 500");

        var paused = Assert.IsType<VmPaused>(await rig.Probe.AskAsync(host,
            new PauseVm(id, HostRig.VmId, host, 1, PauseBudgetMilliseconds: budgetMs), id));
        File.Copy(rig.A.FilePath, _dir.File("b.img"));
        await using var b = rig.StartUpstream("b", VolumeSize);
        Assert.IsType<TargetSwitched>(await rig.Probe.AskAsync(host,
            new SwitchTarget(id, HostRig.VmId, host, HostRig.Export, "store-b", $"unix:{b.SocketPath}", HostRig.Export), id));

        // The broker goes away for this host before the resume: nothing but the host itself can end the pause now.
        relay.Cut();
        await TestGuest.WaitForAsync(rig.Qemu, () => rig.Vm.LastResume?.Key.MigrationId == id, TimeSpan.FromSeconds(30), "the host to resume the VM by itself");
        var stretch = rig.Vm.LastResume!.Value.At - paused.PausedAt;
        output.WriteLine($"paused for {stretch.TotalMilliseconds:0.#} ms with a budget of {budgetMs} ms");
        Assert.InRange(stretch, TimeSpan.FromMilliseconds(budgetMs), TimeSpan.FromMilliseconds(budgetMs) + Margin);
        Assert.Equal(HostRig.SourceStorage, rig.Vm.CurrentStorageId);
        Assert.Equal(rig.A.Target, rig.Vm.Switcher!.Current);

        // Back on the bus the host reports what it did; the saga's forward resume is refused, its rollback answered.
        relay.Restore();
        var report = Assert.IsType<HostOperationFailed>(await rig.Probe.NextAsync(
            e => e is HostOperationFailed f && f.MigrationId == id && f.Operation == HostOperationNames.PauseBudget, 0, "the pause-budget report"));
        Assert.Contains("switched back", report.Reason);
        var refused = Assert.IsType<HostOperationFailed>(await rig.Probe.AskAsync(host, new ResumeVm(id, HostRig.VmId, host, StorageId: "store-b"), id));
        Assert.Equal(HostOperationNames.Resume, refused.Operation);
        Assert.IsType<HostOperationFailed>(await rig.Probe.AskAsync(host,
            new SwitchTarget(id, HostRig.VmId, host, HostRig.Export, "store-b", $"unix:{b.SocketPath}", HostRig.Export), id));
        Assert.IsType<TargetSwitchedBack>(await rig.Probe.AskAsync(host, new SwitchBack(id, HostRig.VmId, host, HostRig.Export, HostRig.SourceStorage), id));
        var resumed = Assert.IsType<VmResumed>(await rig.Probe.AskAsync(host, new ResumeVm(id, HostRig.VmId, host), id));
        Assert.Equal(rig.Vm.LastResume!.Value.At, resumed.ResumedAt);

        // Every record on the source, none written on B after the switch (the VM was paused while its path led there).
        await TestGuest.FinishesAsync(rig.Qemu, Records);
        var source = await WorkloadVerifier.VerifyAsync(rig.A.FilePath, run);
        Assert.True(source.IsIntact, $"source: {source}");
        Assert.Equal(Records, source.ValidRecords);
        Assert.Empty(b.Export.Writes);
    }
}
