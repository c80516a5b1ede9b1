using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using Teleport.Blocks;
using Teleport.Host.Worker;

namespace Teleport.Host.Relay;

/// <summary>
/// The destination host's end of a VM's memory relay: it listens on the host's migration address and, for each
/// connection that authenticates (mutual TLS when configured) and opens a channel, connects to the incoming QEMU's Unix
/// socket. Nothing reaches QEMU before that. A resume names its channel's session token; an unknown token is refused.
/// Once every channel it opened has ended (the stream delivered, or given up) it stops listening: the VM's migration is
/// over, and a fixed Host:MigrationListen port is free for the next incoming VM.
/// </summary>
internal sealed class IncomingMemoryRelay : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly string _qemuSocket;
    private readonly RelaySettings _settings;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<UInt128, ResumeMailbox> _sessions = new();
    private readonly ConcurrentDictionary<UInt128, bool> _delivered = new();
    private readonly RelayChannels _channels = new();
    // Connections still in their TLS handshake and hello: bounded, so strangers cannot pile up sockets and TLS state.
    private readonly ConnectionCaps _handshakes = new(RelaySettings.MaxHandshakes, RelaySettings.MaxHandshakesPerPeer);
    private readonly Task _accepting;
    private int _active;
    private volatile bool _stoppedListening;

    private IncomingMemoryRelay(Socket listener, string qemuSocket, RelaySettings settings)
    {
        _listener = listener;
        Port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        _qemuSocket = qemuSocket;
        _settings = settings;
        _accepting = RelaySockets.AcceptEachAsync(listener, client =>
        {
            _ = HandleAsync(client);
            return Task.CompletedTask;
        }, _stopping.Token);
    }

    /// <summary>The port it listens on (the one picked when asked for port 0).</summary>
    public int Port { get; }

    /// <summary>False once every channel has ended and the listener is closed.</summary>
    public bool Listening => !_stoppedListening;

    public IReadOnlyList<RelayChannel> Channels => _channels.All;

    public static IncomingMemoryRelay Start(IPEndPoint listen, string qemuSocket, RelaySettings settings)
    {
        var listener = RelaySockets.Listen(listen);
        return new IncomingMemoryRelay(listener, qemuSocket, settings);
    }

    private async Task HandleAsync(Socket client)
    {
        var peer = (client.RemoteEndPoint as IPEndPoint)?.Address;
        if (_handshakes.TryAdmit(peer) is { } refusal)
        {
            HostWorkerLog.RelayRefused(_settings.Log, _settings.VmId, client.RemoteEndPoint?.ToString() ?? "?", refusal);
            client.Dispose();
            return;
        }

        try
        {
            await HandshakeAsync(client).ConfigureAwait(false);
        }
        finally
        {
            _handshakes.Leave(peer);
        }
    }

    private async Task HandshakeAsync(Socket client)
    {
        client.NoDelay = true;
        string remote = client.RemoteEndPoint?.ToString() ?? "?";
        Stream stream = new NetworkStream(client, ownsSocket: true);
        using var handshake = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        handshake.CancelAfter(_settings.HandshakeTimeout);
        try
        {
            if (_settings.Tls is { } tls)
            {
                var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
                stream = ssl;
                await ssl.AuthenticateAsServerAsync(tls.ServerOptions(), handshake.Token).ConfigureAwait(false);
            }

            // Fixed size, read only after authentication.
            byte[] bytes = new byte[RelayHello.Size];
            await stream.ReadExactlyAsync(bytes, handshake.Token).ConfigureAwait(false);
            string? refused = RelayHello.Decode(bytes) is not { } hello ? await RefuseAsync(stream, RelayHello.BadHello, handshake.Token).ConfigureAwait(false)
                : hello.Kind == RelayHello.Open ? await OpenAsync(stream, handshake.Token).ConfigureAwait(false)
                : await ResumeAsync(stream, hello, handshake.Token).ConfigureAwait(false);
            if (refused is null)
                return;
            HostWorkerLog.RelayRefused(_settings.Log, _settings.VmId, remote, refused);
        }
        catch (Exception e) when (e is IOException or AuthenticationException or OperationCanceledException or SocketException)
        {
            string why = e is OperationCanceledException ? $"no handshake within {_settings.HandshakeTimeout.TotalSeconds:0.#} s" : e.Message;
            HostWorkerLog.RelayRefused(_settings.Log, _settings.VmId, remote, why);
        }

        await stream.DisposeAsync().ConfigureAwait(false);
    }

    private static async Task<string> RefuseAsync(Stream stream, byte status, CancellationToken cancellationToken)
    {
        await stream.WriteAsync(RelayHello.Reply(status, 0, 0), cancellationToken).ConfigureAwait(false);
        return RelayHello.Describe(status);
    }

    // A new channel: QEMU's socket first (so a refusal costs QEMU nothing), then the token the source resumes with.
    private async Task<string?> OpenAsync(Stream stream, CancellationToken cancellationToken)
    {
        var qemu = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await qemu.ConnectAsync(new UnixDomainSocketEndPoint(_qemuSocket), cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException e)
        {
            qemu.Dispose();
            return $"{await RefuseAsync(stream, RelayHello.QemuUnavailable, cancellationToken).ConfigureAwait(false)} ({e.Message})";
        }

        var token = RelayHello.NewToken();
        var mailbox = new ResumeMailbox(token, _settings.HandshakeTimeout);
        int number = _channels.Count;
        var channel = new RelayChannel(qemu, token, number, _settings, mailbox.NextAsync);
        mailbox.Channel = channel;
        _sessions[token] = mailbox;
        Interlocked.Increment(ref _active);
        HostWorkerLog.RelayChannelOpened(_settings.Log, _settings.VmId, number, "the source");
        var running = RunAsync(channel, stream, token);
        _channels.Add(channel, running);
        return null;
    }

    private async Task RunAsync(RelayChannel channel, Stream stream, UInt128 token)
    {
        try
        {
            await stream.WriteAsync(RelayHello.Reply(RelayHello.Accepted, token, 0)).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            // The link broke before the answer: the channel waits for a resume like after any break.
        }

        await channel.RunAsync(new RelayLink(stream, 0)).ConfigureAwait(false);
        if (channel.Delivered)
            _delivered[token] = true;
        _sessions.TryRemove(token, out _);
        if (Interlocked.Decrement(ref _active) == 0)
            await StopListeningAfterGraceAsync().ConfigureAwait(false);
    }

    // Every channel ended: after the grace (a late resume learns its channel was delivered), the port is let go. A
    // channel QEMU would open after that finds no listener and fails its migration, which is over anyway.
    private async Task StopListeningAfterGraceAsync()
    {
        try
        {
            await Task.Delay(_settings.FinishedGrace, _stopping.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        if (Volatile.Read(ref _active) != 0)
            return;
        _stoppedListening = true;
        _listener.Dispose();
        HostWorkerLog.RelayStoppedListening(_settings.Log, _settings.VmId, Port, _channels.Count);
    }

    private async Task<string?> ResumeAsync(Stream stream, RelayHello hello, CancellationToken cancellationToken)
    {
        if (_delivered.ContainsKey(hello.Token))
        {
            await RefuseAsync(stream, RelayHello.Finished, cancellationToken).ConfigureAwait(false);
            await stream.DisposeAsync().ConfigureAwait(false);
            return null;
        }

        if (!_sessions.TryGetValue(hello.Token, out var mailbox))
            return await RefuseAsync(stream, RelayHello.UnknownSession, cancellationToken).ConfigureAwait(false);
        mailbox.Offer(new RelayLink(stream, hello.Received));
        return null;
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        await _accepting.ConfigureAwait(false);
        await _channels.DisposeAsync().ConfigureAwait(false);
        _stopping.Dispose();
    }
}
