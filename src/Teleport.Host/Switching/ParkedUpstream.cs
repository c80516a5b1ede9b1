using Teleport.Nbd.Client;

namespace Teleport.Host.Switching;

/// <summary>
/// At most one connection opened ahead of a switch: kept idle in option haggling (TCP, greeting and TLS done), so the
/// switch to its target costs one NBD_OPT_GO instead of a new connection, or with the export selected already (a
/// fenced cut-over's destination offers it held before the pause), so the switch crosses no network at all. A newer
/// one replaces the older.
/// </summary>
internal sealed class ParkedUpstream : IAsyncDisposable
{
    private readonly Lock _lock = new();
    private Parked? _parked;

    /// <summary>A connection to <see cref="Target"/>: still in option haggling, or with the export selected (<see cref="Client"/>).</summary>
    public sealed record Parked(UpstreamTarget Target, NbdParkedConnection? Connection, NbdClient? Client)
    {
        public ValueTask DisposeAsync() =>
            Client is not null ? new ValueTask(UpstreamLink.DisposeQuietlyAsync(Client)) : Connection?.DisposeAsync() ?? ValueTask.CompletedTask;
    }

    /// <summary>The target a connection is parked for, or null.</summary>
    public UpstreamTarget? Target
    {
        get
        {
            lock (_lock)
                return _parked?.Target;
        }
    }

    /// <summary>True when the parked connection has its export selected already.</summary>
    public bool Selected
    {
        get
        {
            lock (_lock)
                return _parked?.Client is not null;
        }
    }

    /// <summary>
    /// Opens and parks a connection to <paramref name="target"/>, unless one is parked for it already. With
    /// <paramref name="select"/> it also selects the export, asking once (no wait: this runs before the pause); when the
    /// server does not offer it yet, a connection in option haggling is parked instead.
    /// </summary>
    /// <exception cref="PathSwitchException">The target is unreachable or refused TLS.</exception>
    public async Task OpenAsync(UpstreamTarget target, PathSwitcherOptions options, bool select, CancellationToken cancellationToken)
    {
        if (Target == target)
            return;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.ConnectTimeout);
        Parked parked;
        try
        {
            parked = (select ? await SelectAsync(target, options, timeout.Token).ConfigureAwait(false) : null)
                ?? new Parked(target, await NbdParkedConnection.OpenAsync(target.EndPoint, options.Client, timeout.Token).ConfigureAwait(false), null);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw new PathSwitchException($"Cannot pre-connect to upstream {target}: {e.Message}", PathSwitchException.OfConnect(e), e);
        }

        if (Exchange(parked) is { } replaced)
            await replaced.DisposeAsync().ConfigureAwait(false);
    }

    // Null when the server refused the export (not offered yet): the caller parks a connection in option haggling.
    private static async Task<Parked?> SelectAsync(UpstreamTarget target, PathSwitcherOptions options, CancellationToken cancellationToken)
    {
        var connection = await NbdParkedConnection.OpenAsync(target.EndPoint, options.Client, cancellationToken).ConfigureAwait(false);
        try
        {
            return new Parked(target, null, await connection.GoAsync(target.ExportName, once: true, cancellationToken).ConfigureAwait(false));
        }
        catch (NbdOptionException)
        {
            return null;
        }
    }

    /// <summary>Hands over what is parked for <paramref name="target"/> (null when nothing is); one parked for another target is closed.</summary>
    public async Task<Parked?> TakeAsync(UpstreamTarget target)
    {
        var taken = Exchange(null);
        if (taken is null)
            return null;
        if (taken.Target == target)
            return taken;
        await taken.DisposeAsync().ConfigureAwait(false);
        return null;
    }

    public async ValueTask DisposeAsync()
    {
        if (Exchange(null) is { } parked)
            await parked.DisposeAsync().ConfigureAwait(false);
    }

    private Parked? Exchange(Parked? next)
    {
        lock (_lock)
        {
            var previous = _parked;
            _parked = next;
            return previous;
        }
    }
}
