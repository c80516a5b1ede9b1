using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Teleport.EndToEnd.Tests.Fixtures;

/// <summary>
/// The workload guest (Debian kernel, busybox initramfs, teleport-writer; TCG) with its virtio disk on an NBD
/// endpoint (the host worker's path switcher) and a QMP socket. Its serial console is kept for assertions.
/// </summary>
public sealed partial class GuestVm : IAsyncDisposable
{
    private readonly QemuProcess _qemu;

    private GuestVm(QemuProcess qemu, GuestWorkload workload)
    {
        _qemu = qemu;
        Workload = workload;
    }

    public string QmpSocket => _qemu.QmpSocket;

    public GuestWorkload Workload { get; }

    public bool HasExited => _qemu.HasExited;

    public string Console => _qemu.Output;

    /// <summary>The last record the guest reported writing (-1 before the first progress line).</summary>
    public long LastProgress
    {
        get
        {
            long last = -1;
            foreach (Match m in ProgressLine().Matches(Console))
                last = long.Parse(m.Groups[1].Value);
            return last;
        }
    }

    /// <summary>Boots the guest; its disk is export <paramref name="export"/> at the Unix socket <paramref name="diskSocket"/>.</summary>
    public static async Task<GuestVm> StartAsync(string qmpSocket, string diskSocket, string export, GuestWorkload workload)
    {
        // no_timer_check: on a loaded host TCG's timer runs late enough for the kernel's boot-time IO-APIC check to panic.
        string append = $"console=ttyS0 panic=-1 no_timer_check quiet loglevel=4 guest.count={workload.Records} guest.every={workload.ProgressEvery} " +
            $"guest.run={workload.Run} guest.delay={workload.DelayMicroseconds} guest.hold={workload.HoldSeconds} guest.verify={workload.VerifyBack}";
        // -m 262136k: QEMU 7.2 under TCG loses guest stores in a memory migration of a multiple of 256 KiB (docs/host.md).
        var qemu = await QemuProcess.StartAsync(qmpSocket,
            "-machine", "q35", "-m", "262136k", "-smp", "1", "-nodefaults", "-nographic", "-no-reboot", "-serial", "stdio",
            "-accel", "tcg", "-cpu", "max", "-kernel", TestEnvironment.GuestKernel, "-initrd", TestEnvironment.GuestInitrd,
            "-append", append,
            "-drive", $"driver=nbd,server.type=unix,server.path={diskSocket},export={export},if=none,id=d0,cache.direct=on",
            "-device", "virtio-blk-pci,drive=d0");
        return new GuestVm(qemu, workload);
    }

    /// <summary>Waits for <paramref name="condition"/>; fails with the console when it does not come or the guest stops first.</summary>
    public async Task WaitForAsync(Func<GuestVm, bool> condition, TimeSpan timeout, string what)
    {
        var waited = Stopwatch.StartNew();
        while (!condition(this))
        {
            if (waited.Elapsed > timeout || (HasExited && !condition(this)))
                throw new TimeoutException($"Gave up waiting for {what}; guest console:\n{Console}");
            await Task.Delay(50);
        }
    }

    /// <summary>Ends the guest where it is (a power cut): what it reported written must be on its volume.</summary>
    public async Task KillAsync()
    {
        await _qemu.SignalAsync("KILL");
        await _qemu.WaitForExitAsync(TimeSpan.FromSeconds(30));
    }

    public ValueTask DisposeAsync() => _qemu.DisposeAsync();

    [GeneratedRegex(@"TPW seq=(\d+)")]
    private static partial Regex ProgressLine();
}
