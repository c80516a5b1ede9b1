using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Teleport.Nbd.Client;
using Teleport.Nbd.Exports;
using Teleport.Nbd.Server;

namespace Teleport.Host.Switching;

/// <summary>
/// A local NBD endpoint for one VM disk that forwards every request to an upstream export (a storage
/// worker) and can repoint that upstream while the VM is paused, without the VM's NBD connection noticing.
/// A switch connects and checks the new upstream (export exists, same size and writability), holds new
/// requests, waits until none is in flight, flushes the old upstream, swaps, and lets requests go again:
/// every request runs wholly on one upstream, in the order the client issued them; nothing is lost or sent
/// twice. A refused or failed switch leaves the old upstream in place.
/// </summary>
public sealed class PathSwitcher : IAsyncDisposable
{
    private readonly NbdServer _server;
    private readonly UpstreamLink _link;
    private readonly UpstreamGate _gate;
    private readonly FlushTracker _flushes;
    private readonly PathSwitcherOptions _options;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _switchLock = new(1, 1);
    private readonly ParkedUpstream _parked = new();
    private UpstreamTarget? _previous;
    private int _disposed;

    private PathSwitcher(NbdServer server, UpstreamLink link, UpstreamGate gate, FlushTracker flushes, string exportName, EndPoint localEndPoint,
        PathSwitcherOptions options, ILogger logger)
    {
        _server = server;
        _link = link;
        _gate = gate;
        _flushes = flushes;
        ExportName = exportName;
        LocalEndPoint = localEndPoint;
        _options = options;
        _logger = logger;
    }

    /// <summary>Raised when the upstream is lost outside a switch, on each failed reconnect and on restoration.</summary>
    public event Action<UpstreamEvent>? UpstreamChanged;

    /// <summary>Where QEMU connects (<c>nbd:unix:PATH:exportname=NAME</c>).</summary>
    public EndPoint LocalEndPoint { get; }

    /// <summary>The export name QEMU asks for locally.</summary>
    public string ExportName { get; }

    public long Size => _link.Size;

    /// <summary>The upstream requests go to now.</summary>
    public UpstreamTarget Current => _link.Current.Target;

    /// <summary>The upstream before the last switch (the one <see cref="SwitchBackAsync"/> returns to), or null.</summary>
    public UpstreamTarget? Previous => Volatile.Read(ref _previous);

    /// <summary>Requests being forwarded right now.</summary>
    public int InFlight => _gate.InFlight;

    /// <summary>Connects to <paramref name="upstreamEndPoint"/>/<paramref name="exportName"/> and serves it locally under the same name.</summary>
    public static Task<PathSwitcher> StartAsync(EndPoint listenEndPoint, EndPoint upstreamEndPoint, string exportName, PathSwitcherOptions? options = null, ILoggerFactory? loggerFactory = null, CancellationToken cancellationToken = default) =>
        StartAsync(listenEndPoint, new UpstreamTarget(upstreamEndPoint, exportName), exportName, options, loggerFactory, cancellationToken);

    /// <summary>Connects to <paramref name="upstream"/> and serves it on <paramref name="listenEndPoint"/> as <paramref name="localExportName"/>.</summary>
    /// <exception cref="PathSwitchException">The upstream is unreachable or has no such export.</exception>
    public static async Task<PathSwitcher> StartAsync(EndPoint listenEndPoint, UpstreamTarget upstream, string localExportName, PathSwitcherOptions? options = null, ILoggerFactory? loggerFactory = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(listenEndPoint);
        ArgumentNullException.ThrowIfNull(upstream);
        ArgumentException.ThrowIfNullOrEmpty(localExportName);
        options ??= new PathSwitcherOptions();
        ILogger logger = loggerFactory?.CreateLogger<PathSwitcher>() ?? NullLogger<PathSwitcher>.Instance;
        PathSwitcher? switcher = null;
        var client = await UpstreamLink.ConnectAsync(upstream, options, null, cancellationToken).ConfigureAwait(false);
        var gate = new UpstreamGate();
        var flushes = new FlushTracker();
        var registry = new NbdExportRegistry();
        // Never accept a request larger than the upstream takes: it could not be forwarded whole.
        var serverOptions = options.Server;
        int maxPayload = Math.Min(serverOptions.MaxPayloadLength, client.Export.MaximumPayload);
        var server = new NbdServer(registry, new NbdServerOptions
        {
            MaxPayloadLength = maxPayload,
            MaxInFlightRequests = serverOptions.MaxInFlightRequests,
            PreferredBlockSize = serverOptions.PreferredBlockSize,
            AllowStructuredReplies = serverOptions.AllowStructuredReplies,
            HandshakeTimeout = serverOptions.HandshakeTimeout,
            MaxOptionLength = serverOptions.MaxOptionLength,
            MemoryBudget = serverOptions.MemoryBudget,
        }, loggerFactory?.CreateLogger<NbdServer>());
        var link = new UpstreamLink(new UpstreamConnection(client, upstream), maxPayload, options, e => switcher?.Raise(e), logger);
        try
        {
            registry.Add(new ForwardingExport(localExportName, link, gate, flushes));
            var bound = server.Listen(listenEndPoint);
            switcher = new PathSwitcher(server, link, gate, flushes, localExportName, bound, options, logger);
            SwitcherLog.Started(logger, localExportName, bound, upstream, link.Size);
            return switcher;
        }
        catch
        {
            await server.DisposeAsync().ConfigureAwait(false);
            await link.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The upstream a connection is kept open for (see <see cref="PreconnectAsync"/>), or null.</summary>
    public UpstreamTarget? Preconnected => _parked.Target;

    /// <summary>
    /// Opens a connection to <paramref name="target"/> ahead of a switch (TCP, greeting, TLS) and keeps it idle before
    /// the export is chosen, so the switch to it needs no new connection: one NBD_OPT_GO, repeated on that connection
    /// while the export is not there yet. With <paramref name="select"/> the export is selected now when the server
    /// offers it (a fenced cut-over's destination offers it held), so the switch crosses no network. Call it before
    /// pausing the VM; it replaces an earlier pre-connection.
    /// </summary>
    /// <exception cref="PathSwitchException">The target is unreachable (the switch would then connect by itself).</exception>
    public Task PreconnectAsync(UpstreamTarget target, bool select = false, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(target);
        return _parked.OpenAsync(target, _options, select, cancellationToken);
    }

    /// <summary>True when the connection kept for the next switch has its export selected already (see <see cref="PreconnectAsync"/>).</summary>
    public bool PreconnectedSelected => _parked.Selected;

    public Task<SwitchResult> SwitchAsync(EndPoint upstreamEndPoint, string exportName, CancellationToken cancellationToken = default) =>
        SwitchAsync(new UpstreamTarget(upstreamEndPoint, exportName), cancellationToken);

    /// <summary>
    /// Repoints the disk to <paramref name="target"/>. Call it with the VM paused: requests that arrive
    /// meanwhile are held (not failed) until the swap is done.
    /// </summary>
    /// <exception cref="PathSwitchException">Refused (unreachable, no such export, other size) or the old upstream could not drain or flush; the old upstream stays.</exception>
    public async Task<SwitchResult> SwitchAsync(UpstreamTarget target, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(target);
        await _switchLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await SwitchLockedAsync(target, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _switchLock.Release();
        }
    }

    /// <summary>Switches back to <see cref="Previous"/> (rollback).</summary>
    /// <exception cref="InvalidOperationException">There was no switch to undo.</exception>
    public Task<SwitchResult> SwitchBackAsync(CancellationToken cancellationToken = default)
    {
        var previous = Previous ?? throw new InvalidOperationException("The path switcher has not switched; there is nothing to switch back to.");
        return SwitchAsync(previous, cancellationToken);
    }

    private async Task<SwitchResult> SwitchLockedAsync(UpstreamTarget target, CancellationToken cancellationToken)
    {
        var total = Stopwatch.StartNew();
        var from = Current;
        NbdClient next;
        var parked = await _parked.TakeAsync(target).ConfigureAwait(false);
        try
        {
            next = await _link.ConnectReplacementAsync(target, parked, cancellationToken).ConfigureAwait(false);
        }
        catch (PathSwitchException e)
        {
            SwitcherLog.SwitchRefused(_logger, ExportName, target, e.Message);
            throw;
        }

        var connect = total.Elapsed;
        var blocked = Stopwatch.StartNew();
        var drained = _gate.CloseAsync();
        bool swapped = false;
        try
        {
            try
            {
                await drained.WaitAsync(_options.DrainTimeout, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException e)
            {
                throw new PathSwitchException($"{_gate.InFlight} request(s) still in flight on {from} after {_options.DrainTimeout.TotalSeconds:0.#} s; is the VM paused?", PathSwitchFailure.OldUpstream, e);
            }

            var drain = blocked.Elapsed;
            var old = _link.Current;
            bool flushed = false;
            try
            {
                // Everything the old upstream acknowledged must be durable there: it is the rollback copy. QEMU's 'stop'
                // flushed it already when no write was acknowledged since (the requests are drained, none can come).
                if (!_flushes.Clean)
                {
                    long mark = _flushes.Starting();
                    await old.Client.FlushAsync(cancellationToken).ConfigureAwait(false);
                    _flushes.Flushed(mark);
                    flushed = true;
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                throw new PathSwitchException($"Flushing the old upstream {from} failed: {e.Message}", PathSwitchFailure.OldUpstream, e);
            }

            var flush = blocked.Elapsed - drain;
            _link.Replace(new UpstreamConnection(next, target));
            swapped = true;
            Volatile.Write(ref _previous, from);
            _gate.Open();
            var heldFor = blocked.Elapsed;
            _ = UpstreamLink.DisposeQuietlyAsync(old.Client);
            var result = new SwitchResult(from, target, connect, drain, flush, heldFor, total.Elapsed)
            {
                Preconnected = parked is { Client: not null } || parked?.Connection?.Selected == true,
                Preselected = ReferenceEquals(next, parked?.Client),
                FlushedOld = flushed,
            };
            SwitcherLog.Switched(_logger, ExportName, from, target, result.Total.TotalMilliseconds, result.Blocked.TotalMilliseconds, result.Preselected, result.FlushedOld);
            return result;
        }
        catch (Exception e)
        {
            if (!swapped)
            {
                _gate.Open();
                await UpstreamLink.DisposeQuietlyAsync(next).ConfigureAwait(false);
                SwitcherLog.SwitchRefused(_logger, ExportName, target, e.Message);
            }

            throw;
        }
    }

    private void Raise(UpstreamEvent e)
    {
        try
        {
            UpstreamChanged?.Invoke(e);
        }
        catch (Exception failure)
        {
            // The reconnect loop must survive a failing subscriber.
            SwitcherLog.SubscriberFailed(_logger, failure, e.Kind);
        }
    }

    /// <summary>
    /// Stops serving and closes the upstream connection. Requests waiting for a lost upstream fail at once;
    /// running ones finish first.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _link.StopReconnectingAsync().ConfigureAwait(false);
        await _server.DisposeAsync().ConfigureAwait(false);
        await _link.DisposeAsync().ConfigureAwait(false);
        await _parked.DisposeAsync().ConfigureAwait(false);
        _switchLock.Dispose();
    }
}
