using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Teleport.Contracts;
using Teleport.Host.Tests.Support;
using Teleport.Host.Worker;

namespace Teleport.Host.Tests;

/// <summary>
/// The cut-over's rehearsal at start (CutOverRehearsal): it runs the real cut-over code on private parts (a scripted QMP
/// peer, two private exports, a node without a bus), leaves the real VM, its path and the bus alone, and when it fails or
/// hangs nothing else notices: a real cut-over meanwhile runs through undelayed.
/// </summary>
public sealed class CutOverRehearsalTests : IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);
    private readonly TempDir _dir = new();

    private sealed record Rig(Upstream A, Upstream B, HostWorkerRunner Worker, BusProbe Probe) : IAsyncDisposable
    {
        public HostVm Vm => Worker.Vm("vm1");

        public ILoggerFactory Loggers => Worker.Services.GetRequiredService<ILoggerFactory>();

        public async ValueTask DisposeAsync()
        {
            await Probe.DisposeAsync();
            await Worker.DisposeAsync();
            await B.DisposeAsync();
            await A.DisposeAsync();
        }
    }

    private async Task<Rig> StartAsync(ScriptedHypervisor hypervisor, bool rehearse)
    {
        var a = Upstream.Start(_dir.File("a.sock"), _dir.File("a.img"), "vol", 1 << 20);
        var b = Upstream.Start(_dir.File("b.sock"), _dir.File("b.img"), "vol", 1 << 20);
        var worker = await HostWorkerRunner.StartAsync(o =>
        {
            o.Rehearse = rehearse;
            o.QmpCommandTimeout = TimeSpan.FromSeconds(60);
            o.AddVm("vm1", new HostVmOptions { DiskListen = $"unix:{_dir.File("disk.sock")}", StorageId = "store-a", Upstream = $"unix:{a.SocketPath}", Export = "vol" }
                    .UseHypervisor(hypervisor))
                .AddStorage("store-b", $"unix:{b.SocketPath}");
        });
        var probe = await BusProbe.StartAsync();
        return new Rig(a, b, worker, probe);
    }

    public void Dispose() => _dir.Dispose();

    private static PauseVm CutOver(Guid id, string host) =>
        new(id, "vm1", host, 1, "store-b", null, "vol", PauseBudgetMilliseconds: 60_000, CutOverVolumeId: "vol");

    [Fact]
    public async Task The_worker_rehearses_its_cut_over_at_start_without_touching_its_vm_its_path_or_the_bus()
    {
        var hypervisor = new ScriptedHypervisor();
        await using var rig = await StartAsync(hypervisor, rehearse: true);
        var rehearsal = Assert.IsType<Task<RehearsalOutcome>>(rig.Worker.Node.Rehearsal, exactMatch: false);
        var outcome = await rehearsal.WaitAsync(Wait);

        Assert.True(outcome.Succeeded, outcome.Failure);
        Assert.Equal((0, 0, 0), (hypervisor.Pauses, hypervisor.Resumes, hypervisor.Queries));
        Assert.True(hypervisor.Running);
        Assert.Equal(rig.A.Target.EndPoint.ToString(), rig.Vm.Switcher!.Current.EndPoint.ToString());
        Assert.Equal("store-a", rig.Vm.CurrentStorageId);
        Assert.Null(rig.Vm.LastPause);

        // The real cut-over after it runs as ever, and the bus carries its reports only.
        var id = Guid.NewGuid();
        await rig.Probe.SendAsync(rig.Worker.HostId, CutOver(id, rig.Worker.HostId));
        await rig.Probe.NextAsync(e => e is VmResumed r && r.MigrationId == id, 0, "the real cut-over's VmResumed");
        Assert.Equal([typeof(VmPaused), typeof(TargetSwitched), typeof(VmResumed)], rig.Probe.Of(id).Select(e => e.GetType()));
        Assert.DoesNotContain(rig.Probe.Events, e => e.GetType().GetProperty("HostId")?.GetValue(e) as string == "rehearsal");
    }

    [Fact]
    public async Task A_failed_rehearsal_is_reported_and_harms_nothing()
    {
        var hypervisor = new ScriptedHypervisor();
        await using var rig = await StartAsync(hypervisor, rehearse: false);
        Assert.Null(rig.Worker.Node.Rehearsal);

        var outcome = await CutOverRehearsal.RunAsync(rig.Worker.Options, rig.Loggers, new RehearsalScript(Refuse: "stop"), CancellationToken.None).WaitAsync(Wait);

        Assert.False(outcome.Succeeded);
        Assert.Contains("refused by the rehearsal's script", outcome.Failure);
        Assert.Equal((0, 0), (hypervisor.Pauses, hypervisor.Resumes));
        var id = Guid.NewGuid();
        await rig.Probe.SendAsync(rig.Worker.HostId, CutOver(id, rig.Worker.HostId));
        await rig.Probe.NextAsync(e => e is VmResumed r && r.MigrationId == id, 0, "the real cut-over's VmResumed");
        Assert.Equal(rig.B.Target.EndPoint.ToString(), rig.Vm.Switcher!.Current.EndPoint.ToString());
        Assert.Equal((1, 1), (hypervisor.Pauses, hypervisor.Resumes));
    }

    [Fact]
    public async Task A_cut_over_arriving_during_a_hung_rehearsal_is_not_held_up_and_stopping_ends_the_rehearsal()
    {
        var hypervisor = new ScriptedHypervisor();
        await using var rig = await StartAsync(hypervisor, rehearse: false);
        using var stop = new CancellationTokenSource();
        // Its QMP peer never answers 'stop': the rehearsal hangs inside its pause (for QmpCommandTimeout, 60 s here).
        var hung = CutOverRehearsal.RunAsync(rig.Worker.Options, rig.Loggers, new RehearsalScript(Withhold: "stop"), stop.Token);

        var id = Guid.NewGuid();
        await rig.Probe.SendAsync(rig.Worker.HostId, CutOver(id, rig.Worker.HostId));
        await rig.Probe.NextAsync(e => e is VmResumed r && r.MigrationId == id, 0, "the real cut-over's VmResumed");
        Assert.False(hung.IsCompleted);
        Assert.Equal("store-b", rig.Vm.CurrentStorageId);

        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => hung.WaitAsync(TimeSpan.FromSeconds(5)));
    }
}
