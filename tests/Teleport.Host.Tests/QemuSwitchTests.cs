using System.Diagnostics;
using System.Net.Sockets;
using Teleport.Host.Hypervisor;
using Teleport.Host.Switching;
using Teleport.Host.Tests.Support;
using Xunit.Abstractions;

namespace Teleport.Host.Tests;

/// <summary>
/// Real QEMU whose drive is on the path switcher: pause over QMP, switch, resume — QEMU's own NBD client
/// keeps its connection and never notices. Disk I/O is issued inside QEMU with the monitor's qemu-io command.
/// </summary>
public sealed class QemuSwitchTests(ITestOutputHelper output) : IDisposable
{
    private const int MiB = 1024 * 1024;
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task PauseSwitchResume_QemuKeepsItsDisk_WritesLandOnTheRightUpstream()
    {
        await using var a = Upstream.Start(_dir.File("a.sock"), _dir.File("a.img"), "vol-a", 8 * MiB);
        string local = _dir.File("local.sock");
        await using var switcher = await PathSwitcher.StartAsync(new UnixDomainSocketEndPoint(local), a.Target, "vm-disk0");
        await using var qemu = await QemuProcess.StartAsync(_dir.File("qmp.sock"),
            "-machine", "none", "-nodefaults", "-nographic", "-display", "none", "-S",
            "-drive", $"driver=nbd,server.type=unix,server.path={local},export=vm-disk0,if=none,id=d0,cache.direct=on");
        await using var vm = await QmpHypervisor.ConnectAsync(qemu.QmpSocket);
        await vm.ResumeAsync();

        await QemuMonitorIo.RunAsync(vm, qemu, "write -P 0x21 0 64k");
        await QemuMonitorIo.RunAsync(vm, qemu, "write -P 0x22 1M 4k");

        // The VM is idle (no I/O is issued between commands): B can be a copy taken now.
        File.Copy(a.FilePath, _dir.File("b.img"));
        await using var b = Upstream.Start(_dir.File("b.sock"), _dir.File("b.img"), "vol-b", 8 * MiB);
        int writesOnA = a.Export.Writes.Count;

        var clock = Stopwatch.StartNew();
        await vm.PauseAsync();
        var paused = clock.Elapsed;
        var result = await switcher.SwitchAsync(b.Target);
        var switched = clock.Elapsed;
        await vm.ResumeAsync();
        var resumed = clock.Elapsed;
        output.WriteLine($"pause {paused.TotalMilliseconds:0.###} ms, switch {(switched - paused).TotalMilliseconds:0.###} ms " +
            $"(connect {result.Connect.TotalMilliseconds:0.###}, held {result.Blocked.TotalMilliseconds:0.###}), resume {(resumed - switched).TotalMilliseconds:0.###} ms, " +
            $"pause->resume {resumed.TotalMilliseconds:0.###} ms");

        Assert.True((await vm.QueryStatusAsync()).Running);
        await QemuMonitorIo.RunAsync(vm, qemu, "write -P 0x23 2M 64k");
        await QemuMonitorIo.RunAsync(vm, qemu, "read -P 0x21 0 64k");
        await QemuMonitorIo.RunAsync(vm, qemu, "read -P 0x22 1M 4k");
        await QemuMonitorIo.RunAsync(vm, qemu, "read -P 0x23 2M 64k");

        Assert.Equal(writesOnA, a.Export.Writes.Count);
        Assert.Equal([2L * MiB], b.Export.Writes);
        Assert.True(a.Export.Flushes >= 1, "pausing QEMU flushed A, then the switch flushed it");
        byte[] fileB = b.ReadFile();
        Assert.All(fileB[..65536], x => Assert.Equal(0x21, x));
        Assert.All(fileB[(2 * MiB)..(2 * MiB + 65536)], x => Assert.Equal(0x23, x));
        Assert.All(a.ReadFile()[(2 * MiB)..(2 * MiB + 65536)], x => Assert.Equal(0, x));
    }
}
