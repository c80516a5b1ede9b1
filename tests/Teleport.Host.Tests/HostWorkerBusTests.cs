using System.Diagnostics;
using System.Net.Sockets;
using Teleport.Contracts;
using Teleport.Host.Switching;
using Teleport.Host.Tests.Support;
using Xunit.Abstractions;

namespace Teleport.Host.Tests;

/// <summary>
/// The host worker on the real RabbitMQ driving a real QEMU (<c>-machine none</c>, its drive on the path switcher):
/// pause, switch, switch back and resume answered with the command's attempt; repeated commands answered again
/// with the first answer's timestamp; everything that cannot be done answered with HostOperationFailed.
/// </summary>
public sealed class HostWorkerBusTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task PauseSwitchResume_AnswersEachCommand_AndRepeatsAreAnsweredTheSame()
    {
        await using var rig = await HostRig.StartAsync(_dir);
        await using var b = rig.StartUpstream("b");
        var id = Guid.NewGuid();
        string host = rig.HostId;
        var probe = rig.Probe;

        var paused = Assert.IsType<VmPaused>(await probe.AskAsync(host, new PauseVm(id, HostRig.VmId, host, 3), id));
        Assert.Equal((HostRig.VmId, host, 3), (paused.VmId, paused.HostId, paused.Attempt));
        var again = Assert.IsType<VmPaused>(await probe.AskAsync(host, new PauseVm(id, HostRig.VmId, host, 3), id));
        Assert.Equal(paused.PausedAt, again.PausedAt);

        var switchTo = new SwitchTarget(id, HostRig.VmId, host, HostRig.Export, "store-b", $"unix:{b.SocketPath}", HostRig.Export, 3);
        var switched = Assert.IsType<TargetSwitched>(await probe.AskAsync(host, switchTo, id));
        Assert.Equal(("store-b", 3), (switched.StorageId, switched.Attempt));
        Assert.Equal(b.Target, rig.Vm.Switcher!.Current);
        Assert.Equal("store-b", rig.Vm.CurrentStorageId);
        var switchedAgain = Assert.IsType<TargetSwitched>(await probe.AskAsync(host, switchTo, id));
        Assert.Equal(switched.SwitchedAt, switchedAgain.SwitchedAt);

        var resumed = Assert.IsType<VmResumed>(await probe.AskAsync(host, new ResumeVm(id, HostRig.VmId, host, 3), id));
        Assert.True(resumed.ResumedAt >= switched.SwitchedAt && switched.SwitchedAt >= paused.PausedAt);
        var resumedAgain = Assert.IsType<VmResumed>(await probe.AskAsync(host, new ResumeVm(id, HostRig.VmId, host, 3), id));
        Assert.Equal(resumed.ResumedAt, resumedAgain.ResumedAt);
        Assert.Equal(6, probe.Of(id).Count);
        output.WriteLine($"pause -> resume over the bus: {(resumed.ResumedAt - paused.PausedAt).TotalMilliseconds:0.#} ms");

        // Late redeliveries of this migration change nothing: the VM keeps running, then stays paused for the next one.
        var latePause = Assert.IsType<VmPaused>(await probe.AskAsync(host, new PauseVm(id, HostRig.VmId, host, 3), id));
        Assert.Equal(paused.PausedAt, latePause.PausedAt);
        Assert.True((await (await rig.Vm.HypervisorAsync(CancellationToken.None)).QueryStatusAsync()).Running);
        var next = Guid.NewGuid();
        Assert.IsType<VmPaused>(await probe.AskAsync(host, new PauseVm(next, HostRig.VmId, host), next));
        var lateResume = Assert.IsType<VmResumed>(await probe.AskAsync(host, new ResumeVm(id, HostRig.VmId, host, 3), id));
        Assert.Equal(resumed.ResumedAt, lateResume.ResumedAt);
        Assert.False((await (await rig.Vm.HypervisorAsync(CancellationToken.None)).QueryStatusAsync()).Running);
    }

    [Fact]
    public async Task SwitchBack_ReturnsToTheExportUsedBeforeTheMigration_AndRefusesALateSwitch()
    {
        await using var rig = await HostRig.StartAsync(_dir);
        await using var b = rig.StartUpstream("b");
        string host = rig.HostId;
        var probe = rig.Probe;

        // Never switched: the path already leads to the source.
        var unswitched = Guid.NewGuid();
        var nothingToUndo = Assert.IsType<TargetSwitchedBack>(await probe.AskAsync(host, new SwitchBack(unswitched, HostRig.VmId, host, HostRig.Export, HostRig.SourceStorage), unswitched));
        Assert.Equal(HostRig.SourceStorage, nothingToUndo.StorageId);
        Assert.Equal(rig.A.Target, rig.Vm.Switcher!.Current);

        var id = Guid.NewGuid();
        Assert.IsType<VmPaused>(await probe.AskAsync(host, new PauseVm(id, HostRig.VmId, host), id));
        var switchTo = new SwitchTarget(id, HostRig.VmId, host, HostRig.Export, "store-b", $"unix:{b.SocketPath}", HostRig.Export);
        Assert.IsType<TargetSwitched>(await probe.AskAsync(host, switchTo, id));
        var back = Assert.IsType<TargetSwitchedBack>(await probe.AskAsync(host, new SwitchBack(id, HostRig.VmId, host, HostRig.Export, HostRig.SourceStorage), id));
        Assert.Equal(HostRig.SourceStorage, back.StorageId);
        Assert.Equal(rig.A.Target, rig.Vm.Switcher.Current);
        var backAgain = Assert.IsType<TargetSwitchedBack>(await probe.AskAsync(host, new SwitchBack(id, HostRig.VmId, host, HostRig.Export, HostRig.SourceStorage), id));
        Assert.Equal(back.SwitchedBackAt, backAgain.SwitchedBackAt);

        // A SwitchTarget of the rolled-back attempt arriving late must not undo the rollback.
        var late = Assert.IsType<HostOperationFailed>(await probe.AskAsync(host, switchTo, id));
        Assert.Contains("already switched back", late.Reason);
        Assert.Equal(rig.A.Target, rig.Vm.Switcher.Current);
        Assert.IsType<VmResumed>(await probe.AskAsync(host, new ResumeVm(id, HostRig.VmId, host), id));
    }

    [Fact]
    public async Task CommandsThatCannotBeCarriedOut_AnswerHostOperationFailed_AndChangeNothing()
    {
        await using var rig = await HostRig.StartAsync(_dir, configure: o => o.SwitchRetryWindow = TimeSpan.FromMilliseconds(300));
        await using var small = rig.StartUpstream("small", HostRig.Size / 2);
        string host = rig.HostId;
        var probe = rig.Probe;
        var id = Guid.NewGuid();

        async Task<HostOperationFailed> Fails<T>(T command, string operation, string reason)
            where T : class
        {
            var failed = Assert.IsType<HostOperationFailed>(await probe.AskAsync(host, command, id));
            Assert.Equal(operation, failed.Operation);
            Assert.Contains(reason, failed.Reason);
            Assert.Equal(host, failed.HostId);
            return failed;
        }

        var unknown = await Fails(new PauseVm(id, "vm-nope", host, 2), "pause", "unknown VM 'vm-nope'");
        Assert.Equal(2, unknown.Attempt);
        await Fails(new ResumeVm(id, HostRig.VmId, "host-other"), "resume", "names host 'host-other'");

        // QEMU was started with -S: let it run, then a switch of a running VM is refused.
        object resumed = await probe.AskAsync(host, new ResumeVm(id, HostRig.VmId, host), id);
        Assert.True(resumed is VmResumed, $"expected VmResumed, got {resumed}");
        await Fails(new SwitchTarget(id, HostRig.VmId, host, HostRig.Export, "store-s", $"unix:{small.SocketPath}", HostRig.Export), "switch", "only switched while it is paused");

        Assert.IsType<VmPaused>(await probe.AskAsync(host, new PauseVm(id, HostRig.VmId, host), id));
        await Fails(new SwitchTarget(id, HostRig.VmId, host, HostRig.Export, "store-s", $"unix:{small.SocketPath}", HostRig.Export), "switch", $"its size is {HostRig.Size / 2} bytes");
        await Fails(new SwitchTarget(id, HostRig.VmId, host, HostRig.Export, "store-s", $"unix:{small.SocketPath}", "other-volume"), "switch", "no export named 'other-volume'");
        await Fails(new SwitchTarget(id, HostRig.VmId, host, HostRig.Export, "store-x", $"unix:{_dir.File("nobody.sock")}", HostRig.Export), "switch", "Cannot connect");
        await Fails(new SwitchTarget(id, HostRig.VmId, host, HostRig.Export, "store-rogue", "no-port-here", HostRig.Export), "switch", "is not configured on this host");
        Assert.Equal(rig.A.Target, rig.Vm.Switcher!.Current);
        Assert.Equal(HostRig.SourceStorage, rig.Vm.CurrentStorageId);

        // QEMU dies: pause and resume say so; the disk path itself is untouched.
        await rig.Qemu.SignalAsync("KILL");
        await rig.Qemu.WaitForExitAsync(TimeSpan.FromSeconds(10));
        await Fails(new ResumeVm(id, HostRig.VmId, host, 2), "resume", "QEMU is gone");
        await Fails(new PauseVm(id, HostRig.VmId, host, 2), "pause", "QEMU is gone");
        Assert.All(probe.Of(id), e => Assert.Equal(id, BusProbe.MigrationIdOf(e)));
    }

    [Fact]
    public async Task SwitchTarget_WaitsForAnExportThatAppears_AndASwitchBackStopsAPendingSwitch()
    {
        await using var rig = await HostRig.StartAsync(_dir);
        string host = rig.HostId;
        var probe = rig.Probe;

        // The destination exports the volume only when its final sync completes: the switch waits for it.
        var id = Guid.NewGuid();
        Assert.IsType<VmPaused>(await probe.AskAsync(host, new PauseVm(id, HostRig.VmId, host), id));
        File.Copy(rig.A.FilePath, _dir.File("late.img"));
        int before = probe.Of(id).Count;
        var clock = Stopwatch.StartNew();
        await probe.SendAsync(host, new SwitchTarget(id, HostRig.VmId, host, HostRig.Export, "store-late", $"unix:{_dir.File("late.sock")}", HostRig.Export));
        await Task.Delay(700);
        Assert.Equal(before, probe.Of(id).Count);
        await using var late = rig.StartUpstream("late");
        var switched = Assert.IsType<TargetSwitched>(await probe.NextAsync(id, before));
        output.WriteLine($"switched {clock.ElapsedMilliseconds} ms after the command, the export appeared after 700 ms");
        Assert.Equal(late.Target, rig.Vm.Switcher!.Current);
        Assert.IsType<VmResumed>(await probe.AskAsync(host, new ResumeVm(id, HostRig.VmId, host), id));

        // A rollback while a switch still waits: the switch stops without an answer, the switch back answers.
        var rolledBack = Guid.NewGuid();
        Assert.IsType<VmPaused>(await probe.AskAsync(host, new PauseVm(rolledBack, HostRig.VmId, host), rolledBack));
        await probe.SendAsync(host, new SwitchTarget(rolledBack, HostRig.VmId, host, HostRig.Export, "store-never", $"unix:{_dir.File("never.sock")}", HostRig.Export));
        var waited = Stopwatch.StartNew();
        while (rig.Vm.PendingSwitches == 0)
        {
            Assert.True(waited.Elapsed < BusProbe.Wait, "the SwitchTarget never reached the worker");
            await Task.Delay(10);
        }

        var back = Assert.IsType<TargetSwitchedBack>(await probe.AskAsync(host, new SwitchBack(rolledBack, HostRig.VmId, host, HostRig.Export, "store-late"), rolledBack));
        Assert.Equal("store-late", back.StorageId);
        await Task.Delay(500);
        Assert.Equal(2, probe.Of(rolledBack).Count);
        Assert.Equal(late.Target, rig.Vm.Switcher.Current);
    }
}
