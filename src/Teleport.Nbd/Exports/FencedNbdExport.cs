using Teleport.Blocks;

namespace Teleport.Nbd.Exports;

/// <summary>
/// Serves a volume whose tail is still arriving (fenced early resume): every request passes the <see cref="BlockFence"/>
/// first. Reads of fenced blocks and writes covering them in part wait for them (a past-deadline wait fails with EIO);
/// writes make their blocks the guest's, so the tail's late copies never overwrite them. Everything else goes straight
/// to the wrapped export.
/// <para>
/// A <see cref="Held"/> export is offered before its fence is armed (so the VM's host can select it before the pause and
/// the switch is a local swap): until <see cref="Serve"/> attaches the volume, every command waits, bounded by the
/// fence's wait timeout (then EIO, never stale data), because only the armed fence knows which blocks are stale.
/// <see cref="Withdraw"/> (the migration rolled back) fails the waiting commands at once and closes the connections.
/// </para>
/// </summary>
public sealed class FencedNbdExport : INbdExport, IDisposable
{
    private readonly TaskCompletionSource<INbdExport> _served = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _withdrawn = new();
    private volatile INbdExport? _inner;

    public FencedNbdExport(INbdExport inner, BlockFence fence)
        : this(inner?.Name!, fence)
    {
        Serve(inner!);
    }

    private FencedNbdExport(string name, BlockFence fence)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(fence);
        Name = name;
        Fence = fence;
    }

    /// <summary>An export of <paramref name="name"/> whose commands wait until <see cref="Serve"/> (the fence armed).</summary>
    public static FencedNbdExport Held(string name, BlockFence fence) => new(name, fence);

    public BlockFence Fence { get; }

    public string Name { get; }

    public string? Description => _inner?.Description;

    public long Size => Fence.VolumeBytes;

    public bool IsReadOnly => _inner?.IsReadOnly ?? false;

    /// <summary>True once the volume is attached: commands pass the fence from then on.</summary>
    public bool Serving => _inner is not null;

    /// <summary>Ended by <see cref="Withdraw"/>: the server closes every connection to this export.</summary>
    public CancellationToken Withdrawn => _withdrawn.Token;

    /// <summary>Attaches the volume (call once its fence is armed, or once it is complete): held commands go on now.</summary>
    public void Serve(INbdExport inner)
    {
        ArgumentNullException.ThrowIfNull(inner);
        if (inner.Size != Fence.VolumeBytes)
            throw new ArgumentException($"The fence covers {Fence.VolumeBytes} bytes, export '{inner.Name}' has {inner.Size}.", nameof(inner));
        if (_inner is not null || !_served.TrySetResult(inner))
            throw new InvalidOperationException($"Export '{Name}' is served already.");
        _inner = inner;
    }

    /// <summary>The volume will not be served here (its migration ended): waiting commands fail, connections close.</summary>
    public void Withdraw() => _withdrawn.Cancel();

    /// <summary>
    /// Waits until a read of the range would not wait: the volume served and none of its blocks fenced (the server calls
    /// it before it takes the connection's reply lock, so replies to other requests do not queue behind this one).
    /// </summary>
    public async ValueTask WaitReadableAsync(long offset, long length, CancellationToken cancellationToken)
    {
        await InnerAsync(cancellationToken).ConfigureAwait(false);
        await Fence.WaitReadableAsync(offset, length, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var inner = await InnerAsync(cancellationToken).ConfigureAwait(false);
        await Fence.WaitReadableAsync(offset, buffer.Length, cancellationToken).ConfigureAwait(false);
        await inner.ReadAsync(offset, buffer, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool fua, CancellationToken cancellationToken)
    {
        var inner = await InnerAsync(cancellationToken).ConfigureAwait(false);
        await ClaimAsync(inner, offset, data.Length, cancellationToken).ConfigureAwait(false);
        await inner.WriteAsync(offset, data, fua, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask TrimAsync(long offset, long length, bool fua, CancellationToken cancellationToken)
    {
        var inner = await InnerAsync(cancellationToken).ConfigureAwait(false);
        await ClaimAsync(inner, offset, length, cancellationToken).ConfigureAwait(false);
        await inner.TrimAsync(offset, length, fua, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask WriteZeroesAsync(long offset, long length, bool noHole, bool fua, CancellationToken cancellationToken)
    {
        var inner = await InnerAsync(cancellationToken).ConfigureAwait(false);
        await ClaimAsync(inner, offset, length, cancellationToken).ConfigureAwait(false);
        await inner.WriteZeroesAsync(offset, length, noHole, fua, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        var inner = await InnerAsync(cancellationToken).ConfigureAwait(false);
        await inner.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    public void Dispose()
    {
        Withdraw();
        (_inner as IDisposable)?.Dispose();
    }

    // The volume once served; a held command waits for it, at most the fence's wait timeout.
    private ValueTask<INbdExport> InnerAsync(CancellationToken cancellationToken)
    {
        if (_withdrawn.IsCancellationRequested)
            throw new IOException($"export '{Name}' was withdrawn (its migration ended)");
        return _inner is { } inner ? ValueTask.FromResult(inner) : new ValueTask<INbdExport>(WaitServedAsync(cancellationToken));
    }

    private async Task<INbdExport> WaitServedAsync(CancellationToken cancellationToken)
    {
        using var either = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _withdrawn.Token);
        try
        {
            return await _served.Task.WaitAsync(Fence.WaitTimeout, either.Token).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new IOException($"export '{Name}' is not served within {Fence.WaitTimeout.TotalSeconds:0.###} s (the fence's final round has not arrived)");
        }
        catch (OperationCanceledException) when (_withdrawn.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new IOException($"export '{Name}' was withdrawn (its migration ended)");
        }
    }

    // A read-only export refuses writes itself; claiming its blocks first would only drop the tail's copies.
    private ValueTask ClaimAsync(INbdExport inner, long offset, long length, CancellationToken cancellationToken) =>
        inner.IsReadOnly ? ValueTask.CompletedTask : Fence.ClaimForWriteAsync(offset, length, cancellationToken);
}
