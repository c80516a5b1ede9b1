using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Teleport.Blocks;
using Teleport.Transfer.Protocol;

namespace Teleport.Transfer;

/// <summary>
/// The destination's door: accepts connections, authenticates each one within the handshake timeout (refusing the
/// rest one by one), and hands an authenticated connection to the session, one at a time: a newer authenticated
/// connection replaces an older one (whose peer may be gone without a FIN).
/// </summary>
internal sealed class DestinationListener
{
    /// <summary>Serves one authenticated connection until it ends; the token fires when it is replaced or the session stops.</summary>
    public delegate Task ServeConnection(TransferConnection connection, HelloMessage hello, CancellationToken ct);

    private readonly DestinationOptions _options;
    private readonly ILogger _log;
    private readonly ITransferObserver _observer;
    private readonly ServeConnection _serve;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly List<Task> _handlers = [];
    private readonly ConnectionCaps _handshakes;
    private TcpListener? _listener;
    private CancellationTokenSource? _active;

    public DestinationListener(DestinationOptions options, ILogger log, ITransferObserver observer, ServeConnection serve)
    {
        _options = options;
        _log = log;
        _observer = observer;
        _serve = serve;
        _handshakes = new ConnectionCaps(options.MaxHandshakes, options.MaxHandshakesPerPeer);
    }

    public IPEndPoint? LocalEndPoint => (IPEndPoint?)_listener?.LocalEndpoint;

    /// <summary>Binds the listener (once); returns its endpoint.</summary>
    public IPEndPoint Start()
    {
        if (_listener is null)
        {
            _listener = new TcpListener(_options.Listen);
            _listener.Start();
        }

        return LocalEndPoint!;
    }

    /// <summary>Accepts connections until <paramref name="ct"/> fires; each is handled on its own task.</summary>
    public async Task AcceptAsync(CancellationToken ct)
    {
        var listener = _listener ?? throw new InvalidOperationException("the listener is not started");
        while (!ct.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptSocketAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            var peer = (socket.RemoteEndPoint as IPEndPoint)?.Address;
            if (_handshakes.TryAdmit(peer) is { } refusal)
            {
                _log.LogWarning("Migration {MigrationId}: refused connection from {Peer}: {Error}", _options.MigrationId, peer, refusal);
                socket.Dispose();
                continue;
            }

            SocketTuning.Apply(socket);
            var handler = HandleConnectionAsync(socket, peer, ct);
            lock (_handlers)
            {
                _handlers.RemoveAll(t => t.IsCompleted);
                _handlers.Add(handler);
            }
        }
    }

    /// <summary>After the accept token fired: stops listening and waits for every connection handler and the accept loop.</summary>
    public async Task StopAsync(Task accepting)
    {
        _listener!.Stop();
        Task[] handlers;
        lock (_handlers)
            handlers = [.. _handlers];
        await Task.WhenAll(handlers).ConfigureAwait(false);
        try
        {
            await accepting.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Stops listening, ends the active connection and runs <paramref name="release"/> once no connection is served.</summary>
    public async ValueTask CloseAsync(Action release)
    {
        _listener?.Stop();
        if (_active is { } active)
            await active.CancelAsync().ConfigureAwait(false);
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            release();
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task HandleConnectionAsync(Socket socket, IPAddress? peer, CancellationToken ct)
    {
        // The socket is closed here, last, not by the streams over it: a refused peer sees the close only after the
        // refusal was reported (the TLS layer closes its stream on a failed handshake).
        using var owned = socket;
        (TransferConnection, HelloMessage)? authenticated;
        try
        {
            authenticated = await OpenAsync(socket, ct).ConfigureAwait(false);
        }
        finally
        {
            // The caps count connections still handshaking; an authenticated one is the session's.
            _handshakes.Leave(peer);
        }

        if (authenticated is not { } opened)
            return;
        var (connection, hello) = opened;

        // Authenticated: replace whatever connection is active, then serve this one.
        if (_active is { } previous)
            await previous.CancelAsync().ConfigureAwait(false);
        await _gate.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        using var mine = CancellationTokenSource.CreateLinkedTokenSource(ct);
        _active = mine;
        try
        {
            if (!ct.IsCancellationRequested)
                await _serve(connection, hello, mine.Token).ConfigureAwait(false);
        }
        finally
        {
            if (ReferenceEquals(_active, mine))
                _active = null;
            await connection.DisposeAsync().ConfigureAwait(false);
            _gate.Release();
        }
    }

    /// <summary>Opens the connection and authenticates the source; null when refused (logged and reported) or stopped.</summary>
    private async Task<(TransferConnection, HelloMessage)?> OpenAsync(Socket socket, CancellationToken ct)
    {
        TransferConnection? connection = null;
        try
        {
            using var handshakeTimeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            handshakeTimeout.CancelAfter(_options.HandshakeTimeout);
            try
            {
                connection = await TransferConnection.OpenServerAsync(new NetworkStream(socket, ownsSocket: false), _options.Tls, handshakeTimeout.Token).ConfigureAwait(false);
                var hello = await DestinationHandshake.AuthenticateAsync(connection, _options, _log, handshakeTimeout.Token).ConfigureAwait(false);
                connection.Reader.Authenticated();
                return (connection, hello);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                throw new TransferException(TransferErrorCode.AuthenticationFailed, $"no authentication within {_options.HandshakeTimeout}");
            }
        }
        catch (Exception e) when (e is TransferException or IOException or SocketException or ArgumentException)
        {
            _log.LogWarning("Migration {MigrationId}: refused connection from {Peer}: {Error}", _options.MigrationId, SafePeer(socket), e.Message);
            // Reported before the close, so whoever sees the peer go has already seen why.
            _observer.OnRejected(e);
            if (connection is not null && e is TransferException te)
                await connection.TrySendErrorAsync(te).ConfigureAwait(false);
            await CloseAsync(connection, socket).ConfigureAwait(false);
            return null;
        }
        catch (OperationCanceledException)
        {
            await CloseAsync(connection, socket).ConfigureAwait(false);
            return null;
        }
    }

    private static async ValueTask CloseAsync(TransferConnection? connection, Socket socket)
    {
        if (connection is not null)
            await connection.DisposeAsync().ConfigureAwait(false);
        socket.Dispose();
    }

    private static string SafePeer(Socket socket)
    {
        try
        {
            return socket.RemoteEndPoint?.ToString() ?? "?";
        }
        catch (ObjectDisposedException)
        {
            return "?";
        }
    }
}
