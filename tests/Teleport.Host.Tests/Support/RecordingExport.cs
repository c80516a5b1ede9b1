using System.Collections.Concurrent;
using Teleport.Nbd.Exports;

namespace Teleport.Host.Tests.Support;

/// <summary>
/// Wraps an export and records every write (offset) and flush it executes, optionally slowing writes down so
/// that requests are surely in flight when a test switches.
/// </summary>
internal sealed class RecordingExport(INbdExport inner, TimeSpan writeDelay = default) : INbdExport
{
    public ConcurrentQueue<long> Writes { get; } = new();

    public int Flushes => _flushes;

    private int _flushes;

    public string Name => inner.Name;

    public string? Description => inner.Description;

    public long Size => inner.Size;

    public bool IsReadOnly => inner.IsReadOnly;

    public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken) => inner.ReadAsync(offset, buffer, cancellationToken);

    public async ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool fua, CancellationToken cancellationToken)
    {
        if (writeDelay > TimeSpan.Zero)
        {
            await Task.Delay(writeDelay, cancellationToken);
        }

        await inner.WriteAsync(offset, data, fua, cancellationToken);
        Writes.Enqueue(offset);
    }

    public ValueTask TrimAsync(long offset, long length, bool fua, CancellationToken cancellationToken) => inner.TrimAsync(offset, length, fua, cancellationToken);

    public ValueTask WriteZeroesAsync(long offset, long length, bool noHole, bool fua, CancellationToken cancellationToken) =>
        inner.WriteZeroesAsync(offset, length, noHole, fua, cancellationToken);

    public ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _flushes);
        return inner.FlushAsync(cancellationToken);
    }
}
