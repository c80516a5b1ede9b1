using System.Diagnostics;
using System.Text.RegularExpressions;
using Teleport.Contracts;
using Teleport.Host.Tests.Support;
using Teleport.Host.Workload;
using Xunit.Abstractions;

namespace Teleport.Host.Tests;

/// <summary>
/// The real Linux guest writing records through the host worker's path switcher while the bus pauses it, switches
/// its disk to a copy of the source and resumes it: the guest never sees an I/O error and the copy ends up with
/// every record in order.
/// </summary>
public sealed partial class GuestBusTests(ITestOutputHelper output) : IDisposable
{
    private const int Records = 3000;
    private const ulong Run = 7;
    private const long VolumeSize = 16L * 1024 * 1024;
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task GuestWriting_BusPausesSwitchesAndResumes_EveryRecordLandsOnTheDestination()
    {
        await using var rig = await HostRig.StartAsync(_dir, VolumeSize, qemuArguments: disk =>
        [
            "-machine", "q35", "-m", "256", "-smp", "1", "-nodefaults", "-nographic", "-no-reboot", "-serial", "stdio",
            "-accel", "tcg", "-cpu", "max", "-kernel", Tools.GuestKernel, "-initrd", Tools.GuestInitrd,
            "-append", $"console=ttyS0 panic=-1 no_timer_check quiet loglevel=4 guest.count={Records} guest.every=50 guest.run={Run}",
            "-drive", $"driver=nbd,server.type=unix,server.path={disk},export={HostRig.Export},if=none,id=d0,cache.direct=on",
            "-device", "virtio-blk-pci,drive=d0",
        ]);
        string host = rig.HostId;
        var id = Guid.NewGuid();
        await WaitForAsync(rig.Qemu, () => LastProgress(rig.Qemu.Output) >= 500, TimeSpan.FromSeconds(120), "the workload to reach record 500");

        var paused = Assert.IsType<VmPaused>(await rig.Probe.AskAsync(host, new PauseVm(id, HostRig.VmId, host), id));
        var atPause = await WorkloadVerifier.VerifyAsync(rig.A.FilePath, Run);
        Assert.True(atPause.IsIntact, $"source at pause: {atPause}");
        Assert.InRange(atPause.HighestSequence, 499, Records - 2);
        int writesOnA = rig.A.Export.Writes.Count;
        File.Copy(rig.A.FilePath, _dir.File("b.img"));
        await using var b = rig.StartUpstream("b", VolumeSize);

        var switchedAt = Stopwatch.StartNew();
        Assert.IsType<TargetSwitched>(await rig.Probe.AskAsync(host,
            new SwitchTarget(id, HostRig.VmId, host, HostRig.Export, "store-b", $"unix:{b.SocketPath}", HostRig.Export), id));
        var resumed = Assert.IsType<VmResumed>(await rig.Probe.AskAsync(host, new ResumeVm(id, HostRig.VmId, host), id));
        output.WriteLine($"record {atPause.HighestSequence} at pause; VmPaused -> VmResumed {(resumed.ResumedAt - paused.PausedAt).TotalMilliseconds:0.#} ms " +
            $"(switch + resume over the bus {switchedAt.Elapsed.TotalMilliseconds:0.#} ms; the copy in between is the test's)");

        await WaitForAsync(rig.Qemu, () => rig.Qemu.HasExited, TimeSpan.FromSeconds(180), "the guest to finish and power off");
        string console = rig.Qemu.Output;
        Assert.Contains($"TPW done last={Records - 1}", console);
        Assert.Contains("TPW exit 0", console);
        Assert.DoesNotContain("I/O error", console);

        var destination = await WorkloadVerifier.VerifyAsync(b.FilePath, Run);
        Assert.True(destination.IsIntact, $"destination: {destination}");
        Assert.Equal(Records, destination.ValidRecords);
        Assert.Equal(writesOnA, rig.A.Export.Writes.Count);
    }

    private static async Task WaitForAsync(QemuProcess qemu, Func<bool> condition, TimeSpan timeout, string what)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            if (deadline.Elapsed > timeout || (qemu.HasExited && !condition()))
                throw new TimeoutException($"Gave up waiting for {what}; guest console:\n{qemu.Output}");
            await Task.Delay(50);
        }
    }

    private static long LastProgress(string console)
    {
        long last = -1;
        foreach (Match m in ProgressLine().Matches(console))
            last = long.Parse(m.Groups[1].Value);
        return last;
    }

    [GeneratedRegex(@"TPW seq=(\d+)")]
    private static partial Regex ProgressLine();
}
