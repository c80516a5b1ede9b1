using System.Net.Sockets;
using System.Security.Cryptography;
using Teleport.Contracts;
using Teleport.Host.Hypervisor;
using Teleport.Host.Tests.Support;
using Teleport.Nbd.Client;
using Teleport.Nbd.Protocol;
using Teleport.Nbd.Server;
using Teleport.Nbd.Tls;
using Xunit.Abstractions;

namespace Teleport.Host.Tests;

/// <summary>
/// A host worker configured with Host:NbdPskFile drives a real QEMU whose disk path leads to a TLS-PSK storage export:
/// the saga's SwitchTarget moves the path to another PSK export and QEMU's writes land there; an export whose key for
/// this host differs refuses the handshake, and the path stays where it was.
/// </summary>
public sealed class PskUpstreamTests(ITestOutputHelper output) : IDisposable
{
    private const int MiB = 1024 * 1024;
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_psk_host_switches_qemu_to_a_psk_export_and_an_export_with_another_key_refuses_it()
    {
        string host = $"hv-psk-{Guid.NewGuid():N}"[..15];
        string key = Convert.ToHexString(RandomNumberGenerator.GetBytes(32));
        string hostKeys = Keys("host.psk", host, key);
        var storage = Serving(Keys("storage.psk", host, key), host);
        var otherKey = Serving(Keys("other.psk", host, Convert.ToHexString(RandomNumberGenerator.GetBytes(32))), host);
        string io = _dir.File("io.sock");
        await using var rig = await HostRig.StartAsync(_dir, 8 * MiB, o => (o.HostId, o.NbdPskFile, o.SwitchRetryWindow) = (host, hostKeys, TimeSpan.FromMinutes(10)),
            disk =>
            [
                "-machine", "none", "-nodefaults", "-nographic", "-display", "none", "-S",
                "-drive", $"driver=nbd,server.type=unix,server.path={disk},export={HostRig.Export},if=none,id=d0,cache.direct=on",
                // A second monitor for the test's qemu-io: the host worker holds the first.
                "-qmp", $"unix:{io},server=on,wait=off",
            ],
            upstreamServer: storage);
        await using var b = rig.StartUpstream("b", 8 * MiB, storage);
        await using var wrong = rig.StartUpstream("nobody", 8 * MiB, otherKey);
        // The exports take no plain client: the path QEMU got at start is PSK already.
        var plain = await Assert.ThrowsAsync<NbdOptionException>(() => NbdClient.ConnectAsync(new UnixDomainSocketEndPoint(rig.A.SocketPath), HostRig.Export));
        Assert.Equal(NbdOptionReplyType.ErrorTlsRequired, plain.Reply);
        var id = Guid.NewGuid();
        Assert.IsType<VmPaused>(await rig.Probe.AskAsync(host, new PauseVm(id, HostRig.VmId, host), id));

        // store-x is served by the export whose key for this host differs: the TLS handshake fails, A stays.
        object refused = await rig.Probe.AskAsync(host, new SwitchTarget(id, HostRig.VmId, host, HostRig.Export, "store-x", $"unix:{wrong.SocketPath}", HostRig.Export), id);
        output.WriteLine($"switch to the export with another key: {refused}");
        // A failed authentication is final: answered at once, not retried for the (long) switch window.
        Assert.Contains("TLS handshake with the NBD server failed", Assert.IsType<HostOperationFailed>(refused).Reason);
        Assert.DoesNotContain("tried", ((HostOperationFailed)refused).Reason);
        Assert.Equal(rig.A.Target, rig.Vm.Switcher!.Current);

        Assert.Equal("store-b", Assert.IsType<TargetSwitched>(
            await rig.Probe.AskAsync(host, new SwitchTarget(id, HostRig.VmId, host, HostRig.Export, "store-b", $"unix:{b.SocketPath}", HostRig.Export), id)).StorageId);
        Assert.IsType<VmResumed>(await rig.Probe.AskAsync(host, new ResumeVm(id, HostRig.VmId, host, StorageId: "store-b"), id));
        await using var vm = await QmpHypervisor.ConnectAsync(io);
        await QemuMonitorIo.RunAsync(vm, rig.Qemu, "write -P 0x5a 1M 64k");
        await QemuMonitorIo.RunAsync(vm, rig.Qemu, "read -P 0x5a 1M 64k");

        Assert.All(b.ReadFile()[MiB..(MiB + 65536)], x => Assert.Equal(0x5a, x));
        Assert.True(rig.A.ReadFile().AsSpan().IndexOfAnyExcept((byte)0) < 0, "a write after the switch reached A");
        Assert.True(wrong.ReadFile().AsSpan().IndexOfAnyExcept((byte)0) < 0, "the export with another key was written");
        Assert.Empty(wrong.Export.Writes);
    }

    // A keys file in QEMU's tls-creds-psk format: one "identity:hex key" line.
    private string Keys(string name, string identity, string hexKey)
    {
        string path = _dir.File(name);
        File.WriteAllText(path, $"{identity}:{hexKey.ToLowerInvariant()}\n");
        return path;
    }

    // A storage worker's NBD listener as Storage:NbdPskFile sets it: PSK only, the volume granted to this host.
    private static NbdServerOptions Serving(string keys, string host) =>
        new() { Tls = NbdPskCredentials.ForServer(keys), ExportAccess = (_, identity) => identity == host };
}
