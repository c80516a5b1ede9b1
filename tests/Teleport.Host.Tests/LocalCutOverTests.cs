using Teleport.Contracts;
using Teleport.Host.Tests.Support;
using Teleport.Host.Worker;

namespace Teleport.Host.Tests;

/// <summary>
/// The host's own cut-over (PauseVm.CutOverVolumeId) with an in-process hypervisor, real NBD upstreams and the real broker:
/// pause, switch and resume under one hold of the VM's lock, with no status query between 'stop' and 'cont', and no
/// switch at all when the pause was not confirmed.
/// </summary>
public sealed class LocalCutOverTests : IDisposable
{
    private const long Size = 1024 * 1024;
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private sealed record Rig(Upstream A, Upstream? B, HostWorkerRunner Worker, BusProbe Probe) : IAsyncDisposable
    {
        public HostVm Vm => Worker.Vm("vm1");

        public async ValueTask DisposeAsync()
        {
            await Probe.DisposeAsync();
            await Worker.DisposeAsync();
            if (B is not null)
                await B.DisposeAsync();
            await A.DisposeAsync();
        }
    }

    // Destination B on b.sock (started later by the test when not now).
    private Upstream StartB() => Upstream.Start(_dir.File("b.sock"), _dir.File("b.img"), "vol", Size);

    private async Task<Rig> StartAsync(ScriptedHypervisor hypervisor, bool destinationUp = true)
    {
        var a = Upstream.Start(_dir.File("a.sock"), _dir.File("a.img"), "vol", Size);
        var b = destinationUp ? StartB() : null;
        var probe = await BusProbe.StartAsync();
        var worker = await HostWorkerRunner.StartAsync(o => o
            .AddVm("vm1", new HostVmOptions { DiskListen = $"unix:{_dir.File("disk.sock")}", StorageId = "store-a", Upstream = $"unix:{a.SocketPath}", Export = "vol" }
                .UseHypervisor(hypervisor))
            .AddStorage("store-b", $"unix:{_dir.File("b.sock")}"));
        return new Rig(a, b, worker, probe);
    }

    private static PauseVm CutOver(Guid id, string host) =>
        new(id, "vm1", host, 1, "store-b", "unix:/nowhere.sock", "vol", PauseBudgetMilliseconds: 60_000, CutOverVolumeId: "vol");

    [Fact]
    public async Task The_cut_over_asks_no_status_between_stop_and_cont_and_reports_each_step_in_order()
    {
        var hypervisor = new ScriptedHypervisor();
        await using var rig = await StartAsync(hypervisor);
        var id = Guid.NewGuid();
        await rig.Probe.SendAsync(rig.Worker.HostId, CutOver(id, rig.Worker.HostId));
        await rig.Probe.NextAsync(e => e is VmPaused p && p.MigrationId == id, 0, "the cut-over's VmPaused");
        // The export was selected before the pause: the reports wait for 'cont' (their first publish costs CPU).
        Assert.Equal(1, hypervisor.Resumes);
        await rig.Probe.NextAsync(e => e is VmResumed r && r.MigrationId == id, 0, "the cut-over's VmResumed");

        var events = rig.Probe.Of(id);
        Assert.Equal([typeof(VmPaused), typeof(TargetSwitched), typeof(VmResumed)], events.Select(e => e.GetType()));
        Assert.Equal(rig.B!.Target.EndPoint.ToString(), rig.Vm.Switcher!.Current.EndPoint.ToString());
        Assert.Equal("store-b", rig.Vm.CurrentStorageId);
        Assert.Equal((1, 1, 0), (hypervisor.Pauses, hypervisor.Resumes, hypervisor.Queries));
        Assert.True(hypervisor.Running);
    }

    [Fact]
    public async Task A_cut_over_whose_pause_fails_switches_nothing_and_resumes_nothing()
    {
        // QEMU answered 'stop' but still runs (QmpHypervisor throws this): the VM must stay on the source.
        var hypervisor = new ScriptedHypervisor { Failure = new InvalidOperationException("QEMU accepted 'stop' but still reports 'running'.") };
        await using var rig = await StartAsync(hypervisor);
        var id = Guid.NewGuid();
        var failed = Assert.IsType<HostOperationFailed>(await rig.Probe.AskAsync(rig.Worker.HostId, CutOver(id, rig.Worker.HostId), id));

        Assert.Equal(HostOperations.Pause, failed.Operation);
        Assert.Contains("still reports 'running'", failed.Reason);
        Assert.Equal(rig.A.Target.EndPoint.ToString(), rig.Vm.Switcher!.Current.EndPoint.ToString());
        Assert.Equal("store-a", rig.Vm.CurrentStorageId);
        Assert.Null(rig.Vm.LastSwitch);
        Assert.Equal((0, 0), (hypervisor.Pauses, hypervisor.Resumes));
        Assert.Single(rig.Probe.Of(id));
    }

    [Fact]
    public async Task A_cut_over_whose_switch_waits_for_the_destination_reports_the_pause_at_once()
    {
        // No destination at the pause (nothing selected before it): the switch retries, and whatever the destination waits
        // for (the final round VmPaused starts) must not wait for the switch in turn.
        var hypervisor = new ScriptedHypervisor();
        await using var rig = await StartAsync(hypervisor, destinationUp: false);
        var id = Guid.NewGuid();
        await rig.Probe.SendAsync(rig.Worker.HostId, CutOver(id, rig.Worker.HostId));

        await rig.Probe.NextAsync(e => e is VmPaused p && p.MigrationId == id, 0, "VmPaused while the switch waits");
        Assert.False(hypervisor.Running);
        Assert.Equal("store-a", rig.Vm.CurrentStorageId);
        await using var b = StartB();
        await rig.Probe.NextAsync(e => e is VmResumed r && r.MigrationId == id, 0, "the cut-over's VmResumed once B is up");

        Assert.Equal([typeof(VmPaused), typeof(TargetSwitched), typeof(VmResumed)], rig.Probe.Of(id).Select(e => e.GetType()));
        Assert.Equal(b.Target.EndPoint.ToString(), rig.Vm.Switcher!.Current.EndPoint.ToString());
        Assert.True(hypervisor.Running);
    }
}
