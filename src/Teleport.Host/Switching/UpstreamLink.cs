using Microsoft.Extensions.Logging;
using Teleport.Nbd.Client;
using Teleport.Nbd.Protocol;

namespace Teleport.Host.Switching;

/// <summary>
/// Holds the upstream connection in use and repairs it: the first request that finds it broken starts one
/// reconnect loop (same target, same size checked), every request hit by the loss waits for it up to
/// <see cref="PathSwitcherOptions.RequestRetryWindow"/> and is then re-sent on the new connection.
/// </summary>
internal sealed class UpstreamLink : IAsyncDisposable
{
    private readonly Lock _lock = new();
    private readonly PathSwitcherOptions _options;
    private readonly Action<UpstreamEvent> _report;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private UpstreamConnection _current;
    private Task<UpstreamConnection>? _reconnect;

    public UpstreamLink(UpstreamConnection initial, int maxPayload, PathSwitcherOptions options, Action<UpstreamEvent> report, ILogger logger)
    {
        _current = initial;
        _options = options;
        _report = report;
        _logger = logger;
        Size = initial.Client.Size;
        IsReadOnly = initial.Client.Export.IsReadOnly;
        MaxPayload = maxPayload;
    }

    /// <summary>The largest request the local server accepts; every upstream must take it.</summary>
    public int MaxPayload { get; }

    public long Size { get; }

    public bool IsReadOnly { get; }

    public UpstreamConnection Current => Volatile.Read(ref _current);

    /// <summary>
    /// Opens a connection to <paramref name="target"/> and checks it can stand in for the current one.
    /// </summary>
    /// <exception cref="PathSwitchException">Unreachable, no such export, a different size / writability, smaller requests only.</exception>
    public Task<NbdClient> ConnectReplacementAsync(UpstreamTarget target, ParkedUpstream.Parked? parked, CancellationToken cancellationToken) =>
        ConnectAsync(target, _options, this, cancellationToken, parked);

    /// <summary>
    /// Opens a connection to <paramref name="target"/>; with <paramref name="replacing"/> it must match that
    /// link's volume (same size and writability, takes requests as large). With <paramref name="parked"/> (a connection
    /// to the target opened earlier) only the export is selected on it, or nothing at all when it was selected already
    /// and the connection is still open.
    /// </summary>
    public static async Task<NbdClient> ConnectAsync(UpstreamTarget target, PathSwitcherOptions options, UpstreamLink? replacing, CancellationToken cancellationToken,
        ParkedUpstream.Parked? parked = null)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.ConnectTimeout);
        NbdClient client;
        try
        {
            if (parked?.Client is { Closed: true } lost)
                await DisposeQuietlyAsync(lost).ConfigureAwait(false);
            client = parked switch
            {
                { Client: { Closed: false } selected } => selected,
                { Connection: { } connection } => await GoParkedAsync(connection, target, options, timeout.Token).ConfigureAwait(false),
                _ => await NbdClient.ConnectAsync(target.EndPoint, target.ExportName, options.Client, timeout.Token).ConfigureAwait(false),
            };
        }
        catch (NbdOptionException e) when (e.Reply == NbdOptionReplyType.ErrorUnknown)
        {
            throw new PathSwitchException($"Upstream {target} has no export named '{target.ExportName}'.", PathSwitchFailure.NoSuchExport, e);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new PathSwitchException($"Upstream {target} did not complete the NBD handshake within {options.ConnectTimeout.TotalSeconds:0.#} s.", PathSwitchFailure.Unreachable, e);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw new PathSwitchException($"Cannot connect to upstream {target}: {e.Message}", PathSwitchException.OfConnect(e), e);
        }

        string? mismatch = replacing is null ? null : Mismatch(client.Export, replacing);
        if (mismatch is not null)
        {
            await client.DisposeAsync().ConfigureAwait(false);
            throw new PathSwitchException($"Upstream {target} refused: {mismatch}.", PathSwitchFailure.Mismatch);
        }

        return client;
    }

    // The server may have closed a parked connection (its handshake timeout): then connect afresh.
    private static async Task<NbdClient> GoParkedAsync(NbdParkedConnection parked, UpstreamTarget target, PathSwitcherOptions options, CancellationToken cancellationToken)
    {
        try
        {
            return await parked.GoAsync(target.ExportName, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is NbdConnectionException or NbdProtocolException or IOException)
        {
            return await NbdClient.ConnectAsync(target.EndPoint, target.ExportName, options.Client, cancellationToken).ConfigureAwait(false);
        }
    }

    private static string? Mismatch(NbdExportDetails export, UpstreamLink volume)
    {
        if (export.Size != volume.Size)
        {
            return $"its size is {export.Size} bytes, the volume's is {volume.Size}";
        }

        if (export.IsReadOnly != volume.IsReadOnly)
        {
            return export.IsReadOnly ? "it is read-only, the volume is writable" : "it is writable, the volume is read-only";
        }

        return export.MaximumPayload < volume.MaxPayload
            ? $"it takes requests up to {export.MaximumPayload} bytes, the VM may send {volume.MaxPayload}"
            : null;
    }

    /// <summary>Installs <paramref name="next"/> (the caller has drained requests) and returns the one it replaces.</summary>
    public UpstreamConnection Replace(UpstreamConnection next)
    {
        lock (_lock)
        {
            var previous = _current;
            Volatile.Write(ref _current, next);
            _reconnect = null;
            return previous;
        }
    }

    /// <summary>Called by a request whose connection broke; returns the connection to retry on.</summary>
    /// <exception cref="IOException">No connection again within the retry window.</exception>
    public async Task<UpstreamConnection> RecoverAsync(UpstreamConnection broken, Exception cause, CancellationToken cancellationToken)
    {
        Task<UpstreamConnection> reconnect;
        bool started = false;
        lock (_lock)
        {
            if (!ReferenceEquals(_current, broken))
            {
                return _current;
            }

            if (_reconnect is null)
            {
                _reconnect = Task.Run(() => ReconnectLoopAsync(broken), CancellationToken.None);
                started = true;
            }

            reconnect = _reconnect;
        }

        if (started)
        {
            SwitcherLog.UpstreamLost(_logger, cause, broken.Target);
            _report(new UpstreamEvent(UpstreamEventKind.Lost, broken.Target, 0, cause, DateTimeOffset.UtcNow));
        }

        try
        {
            return await reconnect.WaitAsync(_options.RequestRetryWindow, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException e)
        {
            throw new IOException($"Upstream {broken.Target} lost and not reconnected within {_options.RequestRetryWindow.TotalSeconds:0.#} s.", e);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new IOException($"Upstream {broken.Target} lost; the path switcher is stopping.", e);
        }
    }

    private async Task<UpstreamConnection> ReconnectLoopAsync(UpstreamConnection lost)
    {
        _ = DisposeQuietlyAsync(lost.Client);
        var delay = _options.ReconnectInitialDelay;
        for (int attempt = 1; ; attempt++)
        {
            await Task.Delay(delay, _stopping.Token).ConfigureAwait(false);
            lock (_lock)
            {
                if (!ReferenceEquals(_current, lost))
                {
                    return _current; // A switch replaced it meanwhile.
                }
            }

            try
            {
                var client = await ConnectAsync(lost.Target, _options, this, _stopping.Token).ConfigureAwait(false);
                var restored = new UpstreamConnection(client, lost.Target);
                lock (_lock)
                {
                    if (!ReferenceEquals(_current, lost))
                    {
                        _ = DisposeQuietlyAsync(client);
                        return _current;
                    }

                    Volatile.Write(ref _current, restored);
                    _reconnect = null;
                }

                SwitcherLog.UpstreamRestored(_logger, lost.Target, attempt);
                _report(new UpstreamEvent(UpstreamEventKind.Restored, lost.Target, attempt, null, DateTimeOffset.UtcNow));
                return restored;
            }
            catch (PathSwitchException e)
            {
                SwitcherLog.ReconnectFailed(_logger, lost.Target, attempt, e.Message);
                _report(new UpstreamEvent(UpstreamEventKind.ReconnectFailed, lost.Target, attempt, e, DateTimeOffset.UtcNow));
            }

            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _options.ReconnectMaxDelay.Ticks));
        }
    }

    public static async Task DisposeQuietlyAsync(NbdClient client)
    {
        try
        {
            await client.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception)
        {
            // A broken connection may fail to close cleanly; nothing depends on it any more.
        }
    }

    /// <summary>Ends the reconnect loop; requests waiting for it fail with an I/O error.</summary>
    public Task StopReconnectingAsync() => _stopping.IsCancellationRequested ? Task.CompletedTask : _stopping.CancelAsync();

    public async ValueTask DisposeAsync()
    {
        await StopReconnectingAsync().ConfigureAwait(false);
        Task<UpstreamConnection>? reconnect;
        lock (_lock)
        {
            reconnect = _reconnect;
        }

        if (reconnect is not null)
        {
            try
            {
                await reconnect.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Stopped on purpose.
            }
        }

        await DisposeQuietlyAsync(Current.Client).ConfigureAwait(false);
        _stopping.Dispose();
    }
}
