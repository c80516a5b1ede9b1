using System.Net;
using System.Net.Sockets;
using Teleport.Host.Relay;
using Teleport.Nbd.Tls;

namespace Teleport.Host.Tests.Support;

/// <summary>
/// Both ends of a memory relay without QEMU: the test plays the source QEMU (connecting to the outgoing relay's Unix
/// socket) and the incoming QEMU (a Unix listener the incoming relay connects to); the WAN leg goes through a
/// <see cref="CuttableRelay"/> the test cuts.
/// </summary>
internal sealed class RelayRig : IAsyncDisposable
{
    private readonly Socket _destinationQemu;
    private int _accepted;

    private RelayRig(CapturedLogs logs, Socket destinationQemu, IncomingMemoryRelay incoming, CuttableRelay link, OutgoingMemoryRelay outgoing)
    {
        Logs = logs;
        _destinationQemu = destinationQemu;
        Incoming = incoming;
        Link = link;
        Outgoing = outgoing;
    }

    public CapturedLogs Logs { get; }

    public IncomingMemoryRelay Incoming { get; }

    public CuttableRelay Link { get; }

    public OutgoingMemoryRelay Outgoing { get; }

    /// <summary>Where the incoming relay listens (not through the cuttable link).</summary>
    public IPEndPoint IncomingEndPoint => new(IPAddress.Loopback, Incoming.Port);

    /// <summary>Connections the incoming relay made to the incoming "QEMU".</summary>
    public int DestinationConnections => Volatile.Read(ref _accepted);

    /// <summary>Starts both ends; <paramref name="tls"/> gives the incoming (server) and outgoing (client) credentials.</summary>
    public static RelayRig Start(TempDir dir, TimeSpan recoveryWindow, int retainBytes = RelaySettings.DefaultRetainBytes,
        (NbdTlsCredentials Server, NbdTlsCredentials Client)? tls = null, TimeSpan? finishedGrace = null)
    {
        var logs = new CapturedLogs();
        var log = logs.CreateLogger("relay");
        string qemuSocket = dir.File("incoming.sock");
        var destinationQemu = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        destinationQemu.Bind(new UnixDomainSocketEndPoint(qemuSocket));
        destinationQemu.Listen(16);
        var incomingSettings = new RelaySettings("vm-in", recoveryWindow, tls?.Server, log) { RetainBytes = retainBytes };
        if (finishedGrace is { } grace)
            incomingSettings = incomingSettings with { FinishedGrace = grace };
        var incoming = IncomingMemoryRelay.Start(new IPEndPoint(IPAddress.Loopback, 0), qemuSocket, incomingSettings);
        var link = CuttableRelay.Start(new IPEndPoint(IPAddress.Loopback, 0), new IPEndPoint(IPAddress.Loopback, incoming.Port));
        var outgoing = OutgoingMemoryRelay.Start(dir.File("outgoing.sock"), "127.0.0.1", ((IPEndPoint)link.EndPoint).Port,
            new RelaySettings("vm-out", recoveryWindow, tls?.Client, log) { RetainBytes = retainBytes });
        return new RelayRig(logs, destinationQemu, incoming, link, outgoing);
    }

    /// <summary>Connects as the source QEMU does (one call per migration connection).</summary>
    public async Task<Socket> ConnectSourceAsync()
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(Outgoing.SocketPath));
        return socket;
    }

    /// <summary>The incoming relay's next connection to the incoming "QEMU".</summary>
    public async Task<Socket> AcceptDestinationAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            var socket = await _destinationQemu.AcceptAsync(timeout.Token);
            Interlocked.Increment(ref _accepted);
            return socket;
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"the incoming relay did not connect to QEMU's socket within 30 s; relay log:\n{string.Join('\n', Logs.Lines)}");
        }
    }

    /// <summary>Whether the incoming relay connected to the incoming "QEMU" within <paramref name="wait"/>.</summary>
    public async Task<bool> DestinationConnectedWithinAsync(TimeSpan wait)
    {
        using var timeout = new CancellationTokenSource(wait);
        try
        {
            (await _destinationQemu.AcceptAsync(timeout.Token)).Dispose();
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>Log lines containing <paramref name="text"/>.</summary>
    public string[] LinesWith(string text) => [.. Logs.Lines.Where(l => l.Contains(text, StringComparison.Ordinal))];

    public async ValueTask DisposeAsync()
    {
        await Outgoing.DisposeAsync();
        await Link.DisposeAsync();
        await Incoming.DisposeAsync();
        _destinationQemu.Dispose();
    }
}
