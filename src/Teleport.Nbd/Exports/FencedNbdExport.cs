using Teleport.Blocks;

namespace Teleport.Nbd.Exports;

/// <summary>
/// Serves a volume whose tail is still arriving (fenced early resume): every request passes the <see cref="BlockFence"/>
/// first. Reads of fenced blocks and writes covering them in part wait for them (a past-deadline wait fails with EIO);
/// writes make their blocks the guest's, so the tail's late copies never overwrite them. Everything else goes straight
/// to the wrapped export.
/// </summary>
public sealed class FencedNbdExport : INbdExport, IDisposable
{
    private readonly INbdExport _inner;

    public FencedNbdExport(INbdExport inner, BlockFence fence)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(fence);
        if (fence.VolumeBytes != inner.Size)
            throw new ArgumentException($"The fence covers {fence.VolumeBytes} bytes, export '{inner.Name}' has {inner.Size}.", nameof(fence));
        _inner = inner;
        Fence = fence;
    }

    public BlockFence Fence { get; }

    public string Name => _inner.Name;

    public string? Description => _inner.Description;

    public long Size => _inner.Size;

    public bool IsReadOnly => _inner.IsReadOnly;

    public async ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        await Fence.WaitReadableAsync(offset, buffer.Length, cancellationToken).ConfigureAwait(false);
        await _inner.ReadAsync(offset, buffer, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool fua, CancellationToken cancellationToken)
    {
        await ClaimAsync(offset, data.Length, cancellationToken).ConfigureAwait(false);
        await _inner.WriteAsync(offset, data, fua, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask TrimAsync(long offset, long length, bool fua, CancellationToken cancellationToken)
    {
        await ClaimAsync(offset, length, cancellationToken).ConfigureAwait(false);
        await _inner.TrimAsync(offset, length, fua, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask WriteZeroesAsync(long offset, long length, bool noHole, bool fua, CancellationToken cancellationToken)
    {
        await ClaimAsync(offset, length, cancellationToken).ConfigureAwait(false);
        await _inner.WriteZeroesAsync(offset, length, noHole, fua, cancellationToken).ConfigureAwait(false);
    }

    public ValueTask FlushAsync(CancellationToken cancellationToken) => _inner.FlushAsync(cancellationToken);

    public void Dispose() => (_inner as IDisposable)?.Dispose();

    // A read-only export refuses writes itself; claiming its blocks first would only drop the tail's copies.
    private ValueTask ClaimAsync(long offset, long length, CancellationToken cancellationToken) =>
        IsReadOnly ? ValueTask.CompletedTask : Fence.ClaimForWriteAsync(offset, length, cancellationToken);
}
