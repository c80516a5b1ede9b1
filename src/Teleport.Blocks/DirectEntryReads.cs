using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Teleport.Blocks;

/// <summary>
/// The table entries a batched lookup needs, read with O_DIRECT through the batch's ring instead of through the
/// mapping. A table larger than the memory left for it costs a lookup one read from the device either way; read like
/// this, the page is neither faulted into the process nor cached, so there is no fault, no reclaim of page cache to
/// make room for it and no growth of the resident set. Each key's summary tag matches (usually one) are read, the
/// aligned 4 KiB around the entry (8 KiB where it straddles two), all in one submission per ring's worth; a read that
/// fails or comes back short leaves its key to the mapped lookup, which is always right. Not thread-safe: one batch's.
/// </summary>
internal sealed unsafe class DirectEntryReads : IDisposable
{
    // 4 KiB: the largest logical block size direct I/O asks alignment to, so the windows suit any device.
    private const int Alignment = 4096, WindowBytes = 2 * Alignment;
    private const int MaxMatches = 4; // a key with more tag matches (about never) goes to the mapped lookup

    private enum State : byte
    {
        Absent,
        Found,
        Unresolved,
    }

    private readonly BatchReads _reads;
    private readonly byte* _windows;
    private readonly ReadOp[] _ops;
    private readonly int[] _results, _opKey, _opWithin;
    private readonly State[] _states;
    private readonly ulong[] _locations;
    private Action<Span<int>>? _fault;

    public DirectEntryReads(BatchReads reads, int keys)
    {
        _reads = reads;
        int capacity = reads.Capacity;
        _windows = (byte*)NativeMemory.AlignedAlloc((nuint)capacity * WindowBytes, Alignment);
        _ops = new ReadOp[capacity];
        _results = new int[capacity];
        _opKey = new int[capacity];
        _opWithin = new int[capacity];
        _states = new State[keys];
        _locations = new ulong[keys];
    }

    /// <summary>
    /// Reads the entries of <paramref name="keys"/> from <paramref name="file"/>, <paramref name="table"/>'s working
    /// file; the caller holds the index's read lock, so neither is replaced or closed meanwhile. Returns how many
    /// entries were found so; <paramref name="fault"/> (a test seam) may spoil the reads' results.
    /// </summary>
    public int Read(EntryTable table, SafeFileHandle file, ReadOnlySpan<IndexKey> keys, Action<Span<int>>? fault)
    {
        _fault = fault;
        int fd = (int)file.DangerousGetHandle();
        Span<int> matches = stackalloc int[MaxMatches];
        int ops = 0;
        for (int k = 0; k < keys.Length; k++)
        {
            int count = table.TagMatches(keys[k], matches);
            _states[k] = count < 0 ? State.Unresolved : State.Absent;
            for (int m = 0; m < count; m++)
            {
                if (ops == _ops.Length)
                {
                    Complete(ops, keys);
                    ops = 0;
                }
                Queue(ops++, fd, k, matches[m]);
            }
        }
        Complete(ops, keys);
        return _states.AsSpan(0, keys.Length).Count(State.Found);
    }

    /// <summary>Key <paramref name="k"/>'s table location after <see cref="Read"/>, 0 when it has no entry.</summary>
    public ulong Location(int k, EntryTable table, IndexKey key) => _states[k] switch
    {
        State.Found => _locations[k],
        State.Unresolved => table.LocationOf(key),
        _ => 0,
    };

    private void Queue(int op, int fd, int key, int entry)
    {
        long offset = (long)entry * IndexEntry.Size;
        long start = offset & -Alignment;
        long end = (offset + IndexEntry.Size + Alignment - 1) & -Alignment;
        _ops[op] = new ReadOp(fd, (nint)(_windows + (long)op * WindowBytes), (int)(end - start), start);
        _opKey[op] = key;
        _opWithin[op] = (int)(offset - start);
    }

    private void Complete(int ops, ReadOnlySpan<IndexKey> keys)
    {
        if (ops == 0)
            return;
        _reads.Read(_ops.AsSpan(0, ops), _results);
        _fault?.Invoke(_results.AsSpan(0, ops));
        for (int op = 0; op < ops; op++)
        {
            int k = _opKey[op], within = _opWithin[op];
            if (_states[k] == State.Found)
                continue;
            // The file's last page comes back short, but whole up to the end of the table's last entry.
            if (_results[op] < within + IndexEntry.Size)
            {
                _states[k] = State.Unresolved;
                continue;
            }
            var entry = (IndexEntry*)(_windows + (long)op * WindowBytes + within);
            if (entry->KeyHigh == keys[k].High && entry->KeyLow == keys[k].Low)
            {
                _states[k] = State.Found;
                _locations[k] = entry->Location;
            }
        }
    }

    public void Dispose()
    {
        if (!_reads.Broken) // reads may still land in the windows of a broken ring: they are left allocated
            NativeMemory.AlignedFree(_windows);
    }
}
