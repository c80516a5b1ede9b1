using System.Diagnostics;
using Teleport.Contracts;
using Teleport.Host.Tests.Support;
using Teleport.Host.Worker;

namespace Teleport.Host.Tests;

/// <summary>
/// The saga re-sends ("nudges") a SwitchTarget that got no answer. A duplicate arriving while the host still retries a
/// destination that does not export the volume yet joins the pending switch: it is neither cancelled nor restarted,
/// and both commands are answered by the one switch. Real broker, a scripted VM, real NBD upstreams.
/// </summary>
public sealed class HostWorkerDuplicateSwitchTests : IDisposable
{
    private const string VmId = "vm-dup";
    private const string Export = "vol";
    private const long Size = 1024 * 1024;

    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task ADuplicateWhileTheSwitchWaits_JoinsIt_AndBothAreAnsweredByTheOneSwitch()
    {
        await using var a = Upstream.Start(_dir.File("a.sock"), _dir.File("a.img"), Export, Size);
        await using var worker = await StartWorkerAsync(a, TimeSpan.FromSeconds(60));
        await using var probe = await BusProbe.StartAsync();
        var vm = worker.Vm(VmId);
        var id = Guid.NewGuid();
        Assert.IsType<VmPaused>(await probe.AskAsync(worker.HostId, new PauseVm(id, VmId, worker.HostId, 2), id));

        File.Copy(a.FilePath, _dir.File("late.img"));
        var command = new SwitchTarget(id, VmId, worker.HostId, Export, "store-late", $"unix:{_dir.File("late.sock")}", Export, 2);
        await probe.SendAsync(worker.HostId, command);
        await Until(() => vm.PendingSwitches == 1, "the SwitchTarget never became pending");
        await probe.SendAsync(worker.HostId, command);
        await Until(() => vm.JoinedSwitches == 1, "the duplicate SwitchTarget did not join the pending switch");
        Assert.Equal(1, vm.PendingSwitches);
        Assert.Single(probe.Of(id));

        // The destination exports the volume now (its final sync completed): the one switch answers both commands.
        await using var late = Upstream.Start(_dir.File("late.sock"), _dir.File("late.img"), Export, Size);
        var first = Assert.IsType<TargetSwitched>(await probe.NextAsync(id, 1));
        var second = Assert.IsType<TargetSwitched>(await probe.NextAsync(id, 2));
        Assert.Equal(first, second);
        Assert.Equal(("store-late", 2, worker.HostId), (first.StorageId, first.Attempt, first.HostId));
        Assert.Equal(late.Target, vm.Switcher!.Current);
        Assert.Equal("store-late", vm.CurrentStorageId);
        Assert.Equal(0, vm.PendingSwitches);

        // A later duplicate finds the path switched and answers with the same SwitchedAt; nothing else was published.
        var third = Assert.IsType<TargetSwitched>(await probe.AskAsync(worker.HostId, command, id));
        Assert.Equal(first.SwitchedAt, third.SwitchedAt);
        await Task.Delay(300);
        Assert.Equal(4, probe.Of(id).Count);
        Assert.Equal(1, vm.JoinedSwitches);
    }

    [Fact]
    public async Task AJoinedSwitchThatFails_IsAnsweredOnce_AndASwitchBackStopsAJoinedSwitchWithoutAnswers()
    {
        await using var a = Upstream.Start(_dir.File("a.sock"), _dir.File("a.img"), Export, Size);
        await using var worker = await StartWorkerAsync(a, TimeSpan.FromSeconds(3));
        await using var probe = await BusProbe.StartAsync();
        var vm = worker.Vm(VmId);

        // The destination never exports the volume: the pending switch fails at the end of its window and says so once
        // (a second HostOperationFailed would reach the saga during its rollback and be taken for a failed switch back).
        var failing = Guid.NewGuid();
        Assert.IsType<VmPaused>(await probe.AskAsync(worker.HostId, new PauseVm(failing, VmId, worker.HostId), failing));
        var never = new SwitchTarget(failing, VmId, worker.HostId, Export, "store-never", $"unix:{_dir.File("never.sock")}", Export);
        await probe.SendAsync(worker.HostId, never);
        await Until(() => vm.PendingSwitches == 1, "the SwitchTarget never became pending");
        await probe.SendAsync(worker.HostId, never);
        await Until(() => vm.JoinedSwitches == 1, "the duplicate SwitchTarget did not join the pending switch");
        var failed = Assert.IsType<HostOperationFailed>(await probe.NextAsync(failing, 1));
        Assert.Equal(HostOperations.Switch, failed.Operation);
        Assert.Contains("never.sock", failed.Reason);
        await Task.Delay(500);
        Assert.Equal(2, probe.Of(failing).Count);
        Assert.Equal(0, vm.PendingSwitches);
        Assert.Equal(a.Target, vm.Switcher!.Current);
        Assert.IsType<VmResumed>(await probe.AskAsync(worker.HostId, new ResumeVm(failing, VmId, worker.HostId), failing));

        // A rollback while a switch and its duplicate wait: both stop without an answer, the switch back answers.
        var rolledBack = Guid.NewGuid();
        Assert.IsType<VmPaused>(await probe.AskAsync(worker.HostId, new PauseVm(rolledBack, VmId, worker.HostId), rolledBack));
        var pending = never with { MigrationId = rolledBack };
        await probe.SendAsync(worker.HostId, pending);
        await Until(() => vm.PendingSwitches == 1, "the SwitchTarget never became pending");
        await probe.SendAsync(worker.HostId, pending);
        await Until(() => vm.JoinedSwitches == 2, "the duplicate SwitchTarget did not join the pending switch");
        var back = Assert.IsType<TargetSwitchedBack>(
            await probe.AskAsync(worker.HostId, new SwitchBack(rolledBack, VmId, worker.HostId, Export, "store-a"), rolledBack));
        Assert.Equal("store-a", back.StorageId);
        await Task.Delay(500);
        Assert.Equal(2, probe.Of(rolledBack).Count);
        Assert.Equal(0, vm.PendingSwitches);
        Assert.Equal(a.Target, vm.Switcher.Current);
    }

    private Task<HostWorkerRunner> StartWorkerAsync(Upstream a, TimeSpan switchRetryWindow) =>
        HostWorkerRunner.StartAsync(o =>
        {
            o.SwitchRetryWindow = switchRetryWindow;
            o.AddStorage("store-late", $"unix:{_dir.File("late.sock")}").AddStorage("store-never", $"unix:{_dir.File("never.sock")}");
            o.AddVm(VmId, new HostVmOptions
            {
                DiskListen = $"unix:{_dir.File("disk.sock")}",
                StorageId = "store-a",
                Upstream = $"unix:{a.SocketPath}",
                Export = Export,
            }.UseHypervisor(new ScriptedHypervisor()));
        });

    private static async Task Until(Func<bool> condition, string failure)
    {
        var waited = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(waited.Elapsed < BusProbe.Wait, failure);
            await Task.Delay(10);
        }
    }
}
