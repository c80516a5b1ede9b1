using System.Net.Sockets;
using Teleport.Host.Switching;
using Teleport.Host.Tests.Support;
using Teleport.Nbd.Exports;
using Teleport.Nbd.Server;

namespace Teleport.Host.Tests;

/// <summary>
/// A connection opened before the switch (PathSwitcher.PreconnectAsync) between real NBD servers and a real qemu-io
/// client: used by the switch when it is still there, replaced by a fresh one when the server dropped it, and a
/// pre-connection that fails leaves the switch working as before.
/// </summary>
public sealed class PreconnectTests : IDisposable
{
    private const int MiB = 1024 * 1024;
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private string LocalUrl(PathSwitcher switcher) => $"nbd+unix:///{switcher.ExportName}?socket={(UnixDomainSocketEndPoint)switcher.LocalEndPoint}";

    // B's server behind a relay that counts connections, with the given handshake timeout (a parked connection's life).
    private (NbdServer Server, CuttableRelay Relay, UpstreamTarget Target) StartB(TimeSpan handshakeTimeout)
    {
        File.Copy(_dir.File("a.img"), _dir.File("b.img"));
        var registry = new NbdExportRegistry();
        registry.Add(new FileNbdExport("vol-b", _dir.File("b.img"), readOnly: false));
        var server = new NbdServer(registry, new NbdServerOptions { HandshakeTimeout = handshakeTimeout });
        server.Listen(new UnixDomainSocketEndPoint(_dir.File("b-server.sock")));
        var relay = CuttableRelay.Start(new UnixDomainSocketEndPoint(_dir.File("b.sock")), new UnixDomainSocketEndPoint(_dir.File("b-server.sock")));
        return (server, relay, new UpstreamTarget(new UnixDomainSocketEndPoint(_dir.File("b.sock")), "vol-b"));
    }

    [Fact]
    public async Task The_switch_uses_the_parked_connection_and_opens_none()
    {
        await using var a = Upstream.Start(_dir.File("a.sock"), _dir.File("a.img"), "vol-a", 4 * MiB);
        await using var switcher = await PathSwitcher.StartAsync(new UnixDomainSocketEndPoint(_dir.File("local.sock")), a.Target, "vm-disk0");
        await using var io = await QemuIoSession.StartAsync(LocalUrl(switcher));
        await io.RunAsync("write -P 0x11 0 64k");
        var (server, relay, b) = StartB(TimeSpan.FromSeconds(30));
        await using var _ = server;
        await using var __ = relay;

        await switcher.PreconnectAsync(b);
        await switcher.PreconnectAsync(b); // a second call for the same target keeps the first connection
        Assert.Equal(b, switcher.Preconnected);
        Assert.Equal(1, relay.Accepted);

        var result = await switcher.SwitchAsync(b);
        Assert.True(result.Preconnected);
        Assert.Null(switcher.Preconnected);
        await io.RunAsync("write -P 0x22 64k 64k");
        await io.RunAsync("read -P 0x11 0 64k");
        await io.RunAsync("flush");
        Assert.Equal(1, relay.Accepted);
        Assert.All(File.ReadAllBytes(_dir.File("b.img"))[(64 * 1024)..(128 * 1024)], x => Assert.Equal(0x22, x));
    }

    [Fact]
    public async Task A_parked_connection_the_server_dropped_is_replaced_at_the_switch()
    {
        await using var a = Upstream.Start(_dir.File("a.sock"), _dir.File("a.img"), "vol-a", 4 * MiB);
        await using var switcher = await PathSwitcher.StartAsync(new UnixDomainSocketEndPoint(_dir.File("local.sock")), a.Target, "vm-disk0");
        await using var io = await QemuIoSession.StartAsync(LocalUrl(switcher));
        var (server, relay, b) = StartB(TimeSpan.FromMilliseconds(200));
        await using var _ = server;
        await using var __ = relay;

        await switcher.PreconnectAsync(b);
        // The server gives up on a client that chose no export within its handshake timeout.
        await Task.Delay(TimeSpan.FromMilliseconds(800));

        var result = await switcher.SwitchAsync(b);
        Assert.False(result.Preconnected);
        Assert.Equal(2, relay.Accepted);
        await io.RunAsync("write -P 0x33 0 64k");
        await io.RunAsync("flush");
        Assert.All(File.ReadAllBytes(_dir.File("b.img"))[..(64 * 1024)], x => Assert.Equal(0x33, x));
    }

    [Fact]
    public async Task A_failed_preconnection_is_reported_and_leaves_the_switch_as_before()
    {
        await using var a = Upstream.Start(_dir.File("a.sock"), _dir.File("a.img"), "vol-a", 4 * MiB);
        await using var switcher = await PathSwitcher.StartAsync(new UnixDomainSocketEndPoint(_dir.File("local.sock")), a.Target, "vm-disk0");
        var nowhere = new UpstreamTarget(new UnixDomainSocketEndPoint(_dir.File("nobody.sock")), "vol-b");

        var e = await Assert.ThrowsAsync<PathSwitchException>(() => switcher.PreconnectAsync(nowhere));
        Assert.Contains("pre-connect", e.Message);
        Assert.Null(switcher.Preconnected);

        var (server, relay, b) = StartB(TimeSpan.FromSeconds(30));
        await using var _ = server;
        await using var __ = relay;
        var result = await switcher.SwitchAsync(b);
        Assert.False(result.Preconnected);
        Assert.Equal(b, switcher.Current);
        Assert.Equal(1, relay.Accepted);
    }
}
