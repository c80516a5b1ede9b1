using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Teleport.Blocks;
using Teleport.Nbd.Exports;
using Teleport.Nbd.Tls;

namespace Teleport.Nbd.Server;

/// <summary>
/// Serves the exports of a registry over NBD (fixed newstyle) on TCP and/or Unix domain sockets.
/// Any number of clients, several per export. Stop with <see cref="StopAsync"/> or DisposeAsync.
/// </summary>
public sealed class NbdServer : IAsyncDisposable
{
    private readonly NbdExportRegistry _exports;
    private readonly NbdServerOptions _options;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<(Socket Socket, Task AcceptLoop, string? UnixPath)> _listeners = [];
    private readonly ConcurrentDictionary<long, Task> _connections = new();
    private readonly NbdAttachments _attachments = new();
    private readonly ConnectionCaps _caps;
    private long _nextConnectionId;
    private readonly List<EndPoint> _endPoints = [];

    public NbdServer(NbdExportRegistry exports, NbdServerOptions? options = null, ILogger<NbdServer>? logger = null)
    {
        _exports = exports ?? throw new ArgumentNullException(nameof(exports));
        _options = options ?? new NbdServerOptions();
        _options.Validate();
        _caps = new ConnectionCaps(_options.MaxConnections, _options.MaxConnectionsPerPeer);
        Memory = new NbdMemoryBudget(_options.MemoryBudget);
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    /// <summary>Endpoints being listened on, with ephemeral ports resolved.</summary>
    public IReadOnlyList<EndPoint> EndPoints
    {
        get
        {
            lock (_listeners)
            {
                return _endPoints.ToArray();
            }
        }
    }

    /// <summary>Whether the server listens and every accept loop still runs (not stopped, no listener failed).</summary>
    public bool Accepting
    {
        get
        {
            lock (_listeners)
            {
                return !_stopping.IsCancellationRequested && _listeners.Count > 0 && _listeners.TrueForAll(l => !l.AcceptLoop.IsCompleted);
            }
        }
    }

    /// <summary>The payload bytes all connections share (<see cref="NbdServerOptions.MemoryBudget"/>).</summary>
    internal NbdMemoryBudget Memory { get; }

    /// <summary>Connections currently open.</summary>
    public int ConnectionCount => _connections.Count;

    /// <summary>Connections past the handshake that use the export named <paramref name="exportName"/>.</summary>
    public int ClientsOf(string exportName) => _attachments.Count(exportName);

    /// <summary>
    /// Starts listening on <paramref name="endPoint"/> (an <see cref="IPEndPoint"/>, port 0 for an ephemeral
    /// port, or a <see cref="UnixDomainSocketEndPoint"/> whose path must not exist yet) and returns the bound endpoint.
    /// </summary>
    public EndPoint Listen(EndPoint endPoint)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        ObjectDisposedException.ThrowIf(_stopping.IsCancellationRequested, this);
        bool unix = endPoint is UnixDomainSocketEndPoint;
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, unix ? ProtocolType.Unspecified : ProtocolType.Tcp);
        try
        {
            socket.Bind(endPoint);
            socket.Listen(64);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        var bound = socket.LocalEndPoint ?? endPoint;
        lock (_listeners)
        {
            _listeners.Add((socket, AcceptLoopAsync(socket, unix), unix ? endPoint.ToString() : null));
            _endPoints.Add(bound);
        }

        NbdLog.Listening(_logger, bound);
        return bound;
    }

    /// <summary>Stops accepting, ends every connection (running requests finish first) and closes the listeners.</summary>
    public async Task StopAsync()
    {
        if (_stopping.IsCancellationRequested)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        (Socket Socket, Task AcceptLoop, string? UnixPath)[] listeners;
        lock (_listeners)
        {
            listeners = _listeners.ToArray();
        }

        foreach (var listener in listeners)
        {
            listener.Socket.Dispose();
        }

        await Task.WhenAll(listeners.Select(l => l.AcceptLoop)).ConfigureAwait(false);
        await Task.WhenAll(_connections.Values).ConfigureAwait(false);
        foreach (var listener in listeners)
        {
            if (listener.UnixPath is not null)
            {
                File.Delete(listener.UnixPath);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _stopping.Dispose();
    }

    private async Task AcceptLoopAsync(Socket listener, bool unix)
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            var peer = unix ? null : (client.RemoteEndPoint as IPEndPoint)?.Address;
            if (_caps.TryAdmit(peer) is { } refusal)
            {
                NbdLog.ConnectionRefused(_logger, peer?.ToString() ?? "unix-socket", refusal);
                client.Dispose();
                continue;
            }

            if (!unix)
            {
                client.NoDelay = true;
            }

            // Registered before it runs, so its own removal can never come first.
            long id = Interlocked.Increment(ref _nextConnectionId);
            var registered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _connections[id] = ServeAsync(client, id, peer, registered.Task);
            registered.SetResult();
        }
    }

    private async Task ServeAsync(Socket client, long id, IPAddress? peer, Task registered)
    {
        await registered.ConfigureAwait(false);
        string remote = client.RemoteEndPoint?.ToString() is { Length: > 0 } r ? r : "unix-socket";
        NbdLog.Connected(_logger, remote);
        try
        {
            await using var stream = new StartTlsStream(new NetworkStream(client, ownsSocket: true));
            await new NbdServerConnection(_exports, _options, _logger, remote, _attachments, Memory).RunAsync(stream, _stopping.Token).ConfigureAwait(false);
        }
        finally
        {
            _connections.TryRemove(id, out _);
            _caps.Leave(peer);
        }
    }
}
