using System.IO.MemoryMappedFiles;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Teleport.Blocks;

/// <summary>
/// The entries of one table in a working file beside the index: page cache, not process memory. The file is unlinked
/// as soon as it is created (nothing is left behind after a crash; the saved index file is what survives). Written
/// once through <see cref="Append"/>, then mapped for the passes over the whole table (merges, saves); re-pointing an
/// entry writes into the mapping, and a lookup reads its one entry with a positional read (<see cref="Read"/>).
/// </summary>
internal sealed unsafe class MappedEntries : IDisposable
{
    private const int WriteBufferBytes = 1 << 20;
    private const int PendingEntries = 1 << 14;

    private readonly FileStream _file;
    private MemoryMappedFile? _map;
    private MemoryMappedViewAccessor? _view;
    private IndexEntry* _entries;
    private SafeFileHandle? _handle;
    private long _count;
    // Entries are gathered and written 16 Ki at a time: one write per entry would cost more than the merge itself.
    private IndexEntry[]? _pending = new IndexEntry[PendingEntries];
    private int _pendingCount;

    private MappedEntries(FileStream file) => _file = file;

    /// <summary>A new, empty working file in <paramref name="directory"/>, already unlinked.</summary>
    public static MappedEntries Create(string directory)
    {
        string path = Path.Combine(directory, $".entries-{Guid.NewGuid():N}.work");
        var file = new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, WriteBufferBytes);
        File.Delete(path);
        return new MappedEntries(file);
    }

    public long Count => _count;

    /// <summary>
    /// Entry <paramref name="index"/> (after <see cref="Map"/>), for a lookup: read from the file's page cache, not
    /// through the mapping. Lookups land on pages of their own across gigabytes, so through the mapping each costs a
    /// TLB miss (and a fault the first time); the read costs one system call and maps nothing into the process
    /// (measured: hits 1.5x as fast at 50 M entries, 2.2x at 200 M; docs/performance.md).
    /// </summary>
    public IndexEntry Read(int index)
    {
        Unsafe.SkipInit(out IndexEntry entry);
        FileReads.ReadExactly(_handle!, MemoryMarshal.AsBytes(new Span<IndexEntry>(ref entry)), (long)index * IndexEntry.Size);
        return entry;
    }

    /// <summary>The working file, for batched reads of entries (after <see cref="Map"/>).</summary>
    public SafeFileHandle Handle => _handle!;

    /// <summary>The mapped entries (after <see cref="Map"/>).</summary>
    public Span<IndexEntry> Span => new(_entries, (int)_count);

    public void Append(in IndexEntry entry)
    {
        _pending![_pendingCount++] = entry;
        _count++;
        if (_pendingCount == PendingEntries)
            WritePending();
    }

    /// <summary>Ends writing and maps the file.</summary>
    public void Map()
    {
        WritePending();
        _pending = null;
        _file.Flush();
        _handle = _file.SafeFileHandle;
        if (_count == 0)
            return;
        _map = MemoryMappedFile.CreateFromFile(_file, null, 0, MemoryMappedFileAccess.ReadWrite, HandleInheritability.None, leaveOpen: true);
        _view = _map.CreateViewAccessor(0, _count * IndexEntry.Size, MemoryMappedFileAccess.ReadWrite);
        byte* pointer = null;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
        _entries = (IndexEntry*)(pointer + _view.PointerOffset);
    }

    private void WritePending()
    {
        _file.Write(MemoryMarshal.AsBytes(_pending.AsSpan(0, _pendingCount)));
        _pendingCount = 0;
    }

    /// <summary>Keeps the mapping alive while <see cref="Span"/> is used outside the index's lock (a save).</summary>
    public Lease Borrow()
    {
        bool added = false;
        _view?.SafeMemoryMappedViewHandle.DangerousAddRef(ref added);
        return new Lease(added ? _view : null);
    }

    public void Dispose()
    {
        // The pointer stays valid for leases still out: the view is unmapped when the last one is returned.
        if (_view is not null && _entries is not null)
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view?.Dispose();
        _map?.Dispose();
        _file.Dispose();
    }

    /// <summary>A reference on the mapping: it is unmapped only once every lease is returned.</summary>
    public readonly struct Lease(MemoryMappedViewAccessor? view) : IDisposable
    {
        public void Dispose() => view?.SafeMemoryMappedViewHandle.DangerousRelease();
    }
}
