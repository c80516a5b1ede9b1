using Teleport.Nbd.Client;

namespace Teleport.Host.Switching;

/// <summary>
/// At most one connection opened ahead of a switch and kept idle in option haggling (TCP, greeting and TLS done), so
/// the switch to its target costs one NBD_OPT_GO instead of a new connection. A newer one replaces the older.
/// </summary>
internal sealed class ParkedUpstream : IAsyncDisposable
{
    private readonly Lock _lock = new();
    private (UpstreamTarget Target, NbdParkedConnection Connection)? _parked;

    /// <summary>The target a connection is parked for, or null.</summary>
    public UpstreamTarget? Target
    {
        get
        {
            lock (_lock)
                return _parked?.Target;
        }
    }

    /// <summary>Opens and parks a connection to <paramref name="target"/>, unless one is parked for it already.</summary>
    /// <exception cref="PathSwitchException">The target is unreachable or refused TLS.</exception>
    public async Task OpenAsync(UpstreamTarget target, PathSwitcherOptions options, CancellationToken cancellationToken)
    {
        if (Target == target)
            return;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.ConnectTimeout);
        NbdParkedConnection connection;
        try
        {
            connection = await NbdParkedConnection.OpenAsync(target.EndPoint, options.Client, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw new PathSwitchException($"Cannot pre-connect to upstream {target}: {e.Message}", PathSwitchException.OfConnect(e), e);
        }

        (UpstreamTarget, NbdParkedConnection)? replaced;
        lock (_lock)
        {
            replaced = _parked;
            _parked = (target, connection);
        }

        if (replaced is { } old)
            await old.Item2.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Hands over the connection parked for <paramref name="target"/> (null when there is none); one parked for another target is closed.</summary>
    public async Task<NbdParkedConnection?> TakeAsync(UpstreamTarget target)
    {
        (UpstreamTarget Target, NbdParkedConnection Connection)? taken;
        lock (_lock)
        {
            taken = _parked;
            _parked = null;
        }

        if (taken is not { } parked)
            return null;
        if (parked.Target == target)
            return parked.Connection;
        await parked.Connection.DisposeAsync().ConfigureAwait(false);
        return null;
    }

    public async ValueTask DisposeAsync()
    {
        (UpstreamTarget Target, NbdParkedConnection Connection)? parked;
        lock (_lock)
        {
            parked = _parked;
            _parked = null;
        }

        if (parked is { } p)
            await p.Connection.DisposeAsync().ConfigureAwait(false);
    }
}
