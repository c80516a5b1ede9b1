using System.Diagnostics;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Teleport.Host.Hypervisor;
using Teleport.Host.Switching;
using Teleport.Host.Tests.Support;
using Teleport.Host.Workload;
using Xunit.Abstractions;

namespace Teleport.Host.Tests;

/// <summary>
/// End to end with a real Linux guest (Debian kernel, busybox initramfs, TCG) whose virtio disk is on the
/// path switcher: the workload writes numbered records with O_DIRECT|O_DSYNC, the VM is paused over QMP,
/// the volume copied to a second upstream (the final sync's stand-in), the path switched and the VM resumed.
/// The destination must then hold every record, in order, and the source nothing written after the pause.
/// </summary>
public sealed partial class GuestSwitchTests(ITestOutputHelper output) : IDisposable
{
    private const int Records = 3000;
    private const ulong Run = 42;
    private const long VolumeSize = 16L * 1024 * 1024;
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task GuestWriting_PauseSwitchResume_EveryRecordLandsInOrderOnTheDestination()
    {
        await using var a = Upstream.Start(_dir.File("a.sock"), _dir.File("a.img"), "vol-a", VolumeSize);
        string local = _dir.File("local.sock");
        await using var switcher = await PathSwitcher.StartAsync(new UnixDomainSocketEndPoint(local), a.Target, "vm-disk0");
        await using var qemu = await QemuProcess.StartAsync(_dir.File("qmp.sock"),
            "-machine", "q35", "-m", "256", "-smp", "1", "-nodefaults", "-nographic", "-no-reboot", "-serial", "stdio",
            "-accel", "tcg", "-cpu", "max", "-kernel", Tools.GuestKernel, "-initrd", Tools.GuestInitrd,
            "-append", $"console=ttyS0 panic=-1 no_timer_check quiet loglevel=4 guest.count={Records} guest.every=50 guest.run={Run}",
            "-drive", $"driver=nbd,server.type=unix,server.path={local},export=vm-disk0,if=none,id=d0,cache.direct=on",
            "-device", "virtio-blk-pci,drive=d0");
        await using var vm = await QmpHypervisor.ConnectAsync(qemu.QmpSocket);

        // Let the workload get going, then cut over in the middle of it.
        await WaitForAsync(qemu, () => LastProgress(qemu.Output) >= 500, TimeSpan.FromSeconds(120), "the workload to reach record 500");
        Assert.True((await vm.QueryStatusAsync()).Running);

        var clock = Stopwatch.StartNew();
        await vm.PauseAsync();
        var paused = clock.Elapsed;

        var atPause = await WorkloadVerifier.VerifyAsync(a.FilePath, Run);
        Assert.True(atPause.IsIntact, $"source at pause: {atPause}");
        Assert.InRange(atPause.HighestSequence, 499, Records - 2);
        int writesOnA = a.Export.Writes.Count;
        File.Copy(a.FilePath, _dir.File("b.img"));
        await using var b = Upstream.Start(_dir.File("b.sock"), _dir.File("b.img"), "vol-b", VolumeSize);

        var beforeSwitch = clock.Elapsed;
        var result = await switcher.SwitchAsync(b.Target);
        var switched = clock.Elapsed;
        await vm.ResumeAsync();
        var resumed = clock.Elapsed;
        output.WriteLine($"record {atPause.HighestSequence} at pause; pause {paused.TotalMilliseconds:0.###} ms, " +
            $"switch {(switched - beforeSwitch).TotalMilliseconds:0.###} ms (held {result.Blocked.TotalMilliseconds:0.###}), " +
            $"resume {(resumed - switched).TotalMilliseconds:0.###} ms; downtime without the copy {(paused + (resumed - beforeSwitch)).TotalMilliseconds:0.###} ms");

        await WaitForAsync(qemu, () => qemu.HasExited, TimeSpan.FromSeconds(180), "the guest to finish and power off");
        string console = qemu.Output;
        Assert.Contains($"TPW done last={Records - 1}", console);
        Assert.Contains("TPW exit 0", console);
        Assert.DoesNotContain("I/O error", console);

        var destination = await WorkloadVerifier.VerifyAsync(b.FilePath, Run);
        Assert.True(destination.IsIntact, $"destination: {destination}");
        Assert.Equal(Records - 1, destination.HighestSequence);
        Assert.Equal(Records, destination.ValidRecords);

        // Nothing reached the source after the pause, and the destination got only what followed it.
        Assert.Equal(writesOnA, a.Export.Writes.Count);
        var sourceAfter = await WorkloadVerifier.VerifyAsync(a.FilePath, Run);
        Assert.Equal(atPause.HighestSequence, sourceAfter.HighestSequence);
        Assert.True(sourceAfter.IsIntact, $"source after: {sourceAfter}");
        Assert.All(b.Export.Writes, offset => Assert.True(offset > atPause.HighestSequence * WorkloadRecord.Size, $"write at {offset} went to B"));
    }

    private static async Task WaitForAsync(QemuProcess qemu, Func<bool> condition, TimeSpan timeout, string what)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            if (deadline.Elapsed > timeout || (qemu.HasExited && !condition()))
            {
                throw new TimeoutException($"Gave up waiting for {what}; guest console:\n{qemu.Output}");
            }

            await Task.Delay(50);
        }
    }

    private static long LastProgress(string console)
    {
        long last = -1;
        foreach (Match m in ProgressLine().Matches(console))
        {
            last = long.Parse(m.Groups[1].Value);
        }

        return last;
    }

    [GeneratedRegex(@"TPW seq=(\d+)")]
    private static partial Regex ProgressLine();
}
