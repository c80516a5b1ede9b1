using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Teleport.Host.Tests.Support;

/// <summary>The real Linux guest writing sequenced records on its disk behind a host worker's path switcher.</summary>
internal static partial class TestGuest
{
    /// <summary>QEMU's arguments: the guest writes <paramref name="records"/> records of run <paramref name="run"/> on the disk at <paramref name="disk"/>.
    /// no_timer_check: on a loaded host TCG's timer runs late enough for the kernel's boot-time IO-APIC check to panic.</summary>
    public static string[] Arguments(string disk, int records, ulong run) =>
    [
        "-machine", "q35", "-m", "256", "-smp", "1", "-nodefaults", "-nographic", "-no-reboot", "-serial", "stdio",
        "-accel", "tcg", "-cpu", "max", "-kernel", Tools.GuestKernel, "-initrd", Tools.GuestInitrd,
        "-append", $"console=ttyS0 panic=-1 no_timer_check quiet loglevel=4 guest.count={records} guest.every=50 guest.run={run}",
        "-drive", $"driver=nbd,server.type=unix,server.path={disk},export={HostRig.Export},if=none,id=d0,cache.direct=on",
        "-device", "virtio-blk-pci,drive=d0",
    ];

    public static async Task WaitForAsync(QemuProcess qemu, Func<bool> condition, TimeSpan timeout, string what)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            if (deadline.Elapsed > timeout || (qemu.HasExited && !condition()))
                throw new TimeoutException($"Gave up waiting for {what}; guest console:\n{qemu.Output}");
            await Task.Delay(50);
        }
    }

    /// <summary>The highest record the guest reported writing (-1 before the first report).</summary>
    public static long LastProgress(string console)
    {
        long last = -1;
        foreach (Match m in ProgressLine().Matches(console))
            last = long.Parse(m.Groups[1].Value);
        return last;
    }

    /// <summary>Waits until the guest wrote <paramref name="records"/> records and powered off cleanly, with no I/O error.</summary>
    public static async Task FinishesAsync(QemuProcess qemu, int records)
    {
        await WaitForAsync(qemu, () => qemu.HasExited, TimeSpan.FromSeconds(180), "the guest to finish and power off");
        string console = qemu.Output;
        Xunit.Assert.Contains($"TPW done last={records - 1}", console);
        Xunit.Assert.Contains("TPW exit 0", console);
        Xunit.Assert.DoesNotContain("I/O error", console);
    }

    [GeneratedRegex(@"TPW seq=(\d+)")]
    private static partial Regex ProgressLine();
}
