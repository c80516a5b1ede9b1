using Microsoft.Win32.SafeHandles;
using Teleport.Blocks;

namespace Teleport.Nbd.Exports;

/// <summary>
/// An export backed by a regular file or block device, shared by every connection to it (one handle,
/// so a flush on any connection makes all completed writes durable: multi-conn safe).
/// Writes, trims and write-zeroes mark their blocks in <see cref="DirtyTracker"/> after the data
/// reached the file, so a concurrent take never misses them.
/// I/O is synchronous pread/pwrite on the caller's thread: the server calls from pool workers, and .NET's
/// async file I/O on Linux would only queue the same blocking call to another pool thread.
/// </summary>
public sealed class FileNbdExport : INbdExport, IDisposable
{
    private const int ZeroChunk = 1 << 20;
    private static readonly ReadOnlyMemory<byte> Zeroes = new byte[ZeroChunk];

    private readonly SafeFileHandle _handle;

    public FileNbdExport(string name, string path, bool readOnly = false, IDirtyTracker? dirtyTracker = null, string? description = null)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (System.Text.Encoding.UTF8.GetByteCount(name) > 4096)
        {
            throw new ArgumentException("Export names are at most 4096 UTF-8 bytes.", nameof(name));
        }

        Name = name;
        Description = description;
        IsReadOnly = readOnly;
        _handle = File.OpenHandle(path, FileMode.Open, readOnly ? FileAccess.Read : FileAccess.ReadWrite, FileShare.ReadWrite);
        try
        {
            Size = RandomAccess.GetLength(_handle);
            if (dirtyTracker is not null)
            {
                long needed = (Size + dirtyTracker.BlockSize - 1) / dirtyTracker.BlockSize;
                if (dirtyTracker.BlockCount < needed)
                {
                    throw new ArgumentException(
                        $"Dirty tracker covers {dirtyTracker.BlockCount} blocks of {dirtyTracker.BlockSize} bytes, the export needs {needed}.",
                        nameof(dirtyTracker));
                }
            }
        }
        catch
        {
            _handle.Dispose();
            throw;
        }

        DirtyTracker = dirtyTracker;
    }

    public string Name { get; }

    public string? Description { get; }

    public long Size { get; }

    public bool IsReadOnly { get; }

    /// <summary>Tracker every modification is recorded in, or null when nobody tracks this volume.</summary>
    public IDirtyTracker? DirtyTracker { get; }

    public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        CheckRange(offset, buffer.Length);
        cancellationToken.ThrowIfCancellationRequested();
        var span = buffer.Span;
        while (!span.IsEmpty)
        {
            int read = RandomAccess.Read(_handle, span, offset);
            if (read == 0)
            {
                throw new IOException($"Backing file of export '{Name}' ended at {offset}: it shrank under the export.");
            }

            span = span[read..];
            offset += read;
        }

        return ValueTask.CompletedTask;
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool fua, CancellationToken cancellationToken)
    {
        CheckWritable();
        CheckRange(offset, data.Length);
        cancellationToken.ThrowIfCancellationRequested();
        try
        {
            RandomAccess.Write(_handle, data.Span, offset);
        }
        finally
        {
            // Even a failed write may have changed part of the range.
            MarkDirty(offset, data.Length);
        }

        if (fua)
        {
            RandomAccess.FlushToDisk(_handle);
        }

        return ValueTask.CompletedTask;
    }

    // Trimmed ranges read back as zeroes here (the protocol allows any content), so a trim is a write-zeroes
    // that may punch a hole.
    public ValueTask TrimAsync(long offset, long length, bool fua, CancellationToken cancellationToken) =>
        WriteZeroesAsync(offset, length, noHole: false, fua, cancellationToken);

    public ValueTask WriteZeroesAsync(long offset, long length, bool noHole, bool fua, CancellationToken cancellationToken)
    {
        CheckWritable();
        CheckRange(offset, length);
        cancellationToken.ThrowIfCancellationRequested();
        try
        {
            bool done = (!noHole && Fallocate.TryPunchHole(_handle, offset, length)) || Fallocate.TryZeroRange(_handle, offset, length);
            if (!done)
            {
                WriteZeroBytes(offset, length);
            }
        }
        finally
        {
            MarkDirty(offset, length);
        }

        if (fua)
        {
            RandomAccess.FlushToDisk(_handle);
        }

        return ValueTask.CompletedTask;
    }

    public ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        if (!IsReadOnly)
        {
            RandomAccess.FlushToDisk(_handle);
        }

        return ValueTask.CompletedTask;
    }

    public void Dispose() => _handle.Dispose();

    /// <summary>Fallback when the file system cannot punch holes or zero ranges.</summary>
    private void WriteZeroBytes(long offset, long length)
    {
        while (length > 0)
        {
            int chunk = (int)Math.Min(length, ZeroChunk);
            RandomAccess.Write(_handle, Zeroes.Span[..chunk], offset);
            offset += chunk;
            length -= chunk;
        }
    }

    private void MarkDirty(long offset, long length)
    {
        if (DirtyTracker is not null)
        {
            DirtySpan.Mark(DirtyTracker, offset, length);
        }
    }

    private void CheckWritable()
    {
        if (IsReadOnly)
        {
            throw new UnauthorizedAccessException($"Export '{Name}' is read-only.");
        }
    }

    private void CheckRange(long offset, long length)
    {
        if (offset < 0 || length < 0 || offset > Size || length > Size - offset)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), $"Range {offset}+{length} is outside export '{Name}' of {Size} bytes.");
        }
    }
}
