using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Teleport.Blocks;

/// <summary>
/// The working set of a batched verified lookup (<see cref="BlockIndex.ReadVerified"/>), up to <see cref="Capacity"/>
/// lookups at a time in two steps: <see cref="Locate"/>, under the index's read lock, finds each key's entry through
/// the summary and the mapped table; <see cref="Verify"/>, outside it, reads the blocks they point to with one batched
/// read and fingerprints them. A lookup that does not resolve cleanly (a second candidate, a short or failed read, a
/// block that no longer holds the content) is marked <see cref="Outcome.Retry"/> for the one-at-a-time lookup, which handles every case. Reads go to native memory,
/// so nothing is pinned, and a read still in flight after a failure can never write into the managed heap.
/// </summary>
internal sealed unsafe partial class VerifiedBatch : IDisposable
{
    public enum Outcome : byte
    {
        Miss,
        Located,
        Hit,
        Retry,
    }

    private const int MaxLookups = 128, MaxBufferBytes = 1 << 20, PageSize = 4096;

    private readonly BatchReads _reads;
    private readonly int _blockSize;
    private readonly byte* _blockBuffer;
    private readonly ReadOp[] _ops;
    private readonly int[] _results;
    private readonly int[] _opLookup;
    private readonly SafeFileHandle?[] _held;
    private readonly ulong[] _locations;
    private readonly BlockHasher _hasher = new();
    private DirectEntryReads? _direct; // set up on the first batch that reads its entries directly

    private VerifiedBatch(BatchReadMode requested, int blockSize)
    {
        Requested = requested;
        _blockSize = blockSize;
        // 128 lookups of 4 KiB blocks (fewer of larger ones): a system call spread over many reads, 512 KiB of buffer.
        _reads = BatchReads.Create(requested, Math.Clamp(MaxBufferBytes / blockSize, 16, MaxLookups));
        Capacity = Math.Min(_reads.Capacity, MaxLookups);
        _blockBuffer = (byte*)NativeMemory.AlignedAlloc((nuint)(Capacity * blockSize), PageSize);
        _ops = new ReadOp[Capacity];
        _results = new int[Capacity];
        _opLookup = new int[Capacity];
        _held = new SafeFileHandle?[Capacity];
        _locations = new ulong[Capacity];
        Keys = new IndexKey[Capacity];
        Outcomes = new Outcome[Capacity];
    }

    /// <summary>Lookups per step.</summary>
    public int Capacity { get; }

    /// <summary>The mode asked for (the reads fall back to pread where io_uring is unavailable).</summary>
    public BatchReadMode Requested { get; }

    /// <summary>The mode the reads use.</summary>
    public BatchReadMode Mode => _reads.Mode;

    /// <summary>The keys to look up (the caller fills the first count).</summary>
    public IndexKey[] Keys { get; }

    public Outcome[] Outcomes { get; }

    /// <summary>Where <see cref="Locate"/> found key <paramref name="i"/>'s content (valid when it is a hit).</summary>
    public ulong LocationOf(int i) => _locations[i];

    /// <summary>
    /// Step one, under the index's read lock (the table stays mapped): where each of the <paramref name="count"/> keys
    /// from <paramref name="start"/> has its content, by its table entry (read from the mapping, or when <paramref name="direct"/> all at once with
    /// O_DIRECT: <see cref="DirectEntryReads"/>) or its received entry. Returns the entries found by direct reads. A key with no candidate is
    /// a miss; one with two (a table entry and an unsaved received block) goes to the single lookup, which tries both.
    /// </summary>
    public int Locate(int start, int count, IndexEntries entries, bool direct, Action<Span<int>>? directFault)
    {
        Span<ulong> found = stackalloc ulong[IndexEntries.MaxCandidates];
        var table = entries.Table;
        var file = direct ? table.DirectHandle : null;
        int readDirect = file is null ? 0
            : (_direct ??= new DirectEntryReads(_reads, Capacity)).Read(table, file, Keys.AsSpan(start, count), directFault);
        for (int i = start; i < start + count; i++)
        {
            ulong inTable = file is null ? table.LocationOf(Keys[i]) : _direct!.Location(i - start, table, Keys[i]);
            int candidates = entries.Candidates(Keys[i], inTable, found);
            Outcomes[i] = candidates switch
            {
                0 => Outcome.Miss,
                1 => Outcome.Located,
                _ => Outcome.Retry,
            };
            _locations[i] = found[0];
        }
        return readDirect;
    }

    /// <summary>
    /// Step two, without the lock: reads the located blocks of the <paramref name="count"/> keys from
    /// <paramref name="start"/> from <paramref name="images"/> at once and checks each holds content of its key. A hit's block goes to its slot of <paramref name="blocks"/> and its fingerprint to
    /// <paramref name="fingerprints"/>. Returns the hits.
    /// </summary>
    public int Verify(int start, int count, ImageRecord?[] images, Func<Fingerprint, IndexKey> keyOf, Span<byte> blocks,
        Span<Fingerprint> fingerprints)
    {
        int ops = 0;
        try
        {
            for (int i = start; i < start + count; i++)
            {
                if (Outcomes[i] != Outcome.Located)
                    continue;
                if (TryQueueBlock(ops, i, images))
                    _opLookup[ops++] = i;
                else
                    Outcomes[i] = Outcome.Retry;
            }
            if (ops > 0)
                _reads.Read(_ops.AsSpan(0, ops), _results);
        }
        finally
        {
            // The ring holds its own reference to each file once a read is submitted: the handles may go now.
            for (int k = 0; k < ops; k++)
            {
                _held[k]!.DangerousRelease();
                _held[k] = null;
            }
        }
        return Check(ops, keyOf, blocks, fingerprints);
    }

    private bool TryQueueBlock(int op, int lookup, ImageRecord?[] images)
    {
        ulong location = _locations[lookup];
        if (!TryHold(images, IndexEntry.ImageIdOf(location), out var handle))
            return false;
        _held[op] = handle;
        _ops[op] = new ReadOp((int)handle.DangerousGetHandle(), (nint)(_blockBuffer + (long)op * _blockSize), _blockSize,
            IndexEntry.BlockOf(location) * _blockSize);
        return true;
    }

    // The open file of image `id` (one of the index's images only), referenced until the caller releases it: a
    // concurrent close (the image left the index) waits for the read.
    private static bool TryHold(ImageRecord?[] images, int id, [NotNullWhen(true)] out SafeFileHandle? handle)
    {
        handle = id < images.Length ? images[id]?.TryGetHandle() : null;
        if (handle is null)
            return false;
        bool added = false;
        try
        {
            handle.DangerousAddRef(ref added);
        }
        catch (ObjectDisposedException)
        {
            handle = null;
        }
        return added;
    }

    private int Check(int ops, Func<Fingerprint, IndexKey> keyOf, Span<byte> blocks, Span<Fingerprint> fingerprints)
    {
        int hits = 0;
        for (int k = 0; k < ops; k++)
        {
            int i = _opLookup[k];
            // A short read (the image's last, partial block, or a shrunk image) goes to the single lookup, which pads.
            if (_results[k] == _blockSize && Accept(i, k, keyOf, blocks, fingerprints))
                hits++;
            else
                Outcomes[i] = Outcome.Retry;
        }
        return hits;
    }

    // Whether the block in buffer slot `slot` holds content of key `i`: then it is key i's hit, stored in its slot of
    // `blocks` with its fingerprint. The one check of a block however it was found (entry or prediction).
    private bool Accept(int i, int slot, Func<Fingerprint, IndexKey> keyOf, Span<byte> blocks, Span<Fingerprint> fingerprints)
    {
        var data = new ReadOnlySpan<byte>(_blockBuffer + (long)slot * _blockSize, _blockSize);
        var content = _hasher.Compute(data);
        if (keyOf(content) != Keys[i])
            return false;
        data.CopyTo(blocks.Slice(i * _blockSize, _blockSize));
        fingerprints[i] = content;
        Outcomes[i] = Outcome.Hit;
        return true;
    }

    public void Dispose()
    {
        _hasher.Dispose();
        _reads.Dispose();
        _direct?.Dispose();
        if (_reads.Broken)
            return; // reads may still land in the buffers: they are left allocated
        NativeMemory.AlignedFree(_blockBuffer);
    }

    /// <summary>Batches kept for reuse: a ring and its buffers are set up once, not per call. Thread-safe.</summary>
    public sealed class Pool(int blockSize) : IDisposable
    {
        private const int MaxKept = 8;
        private readonly Stack<VerifiedBatch> _free = new();
        private BatchReadMode _mode = BatchReads.DefaultMode;
        private bool _disposed;

        /// <summary>The reads new batches ask for (io_uring by default on Linux); a change drops the kept ones.</summary>
        public BatchReadMode Mode
        {
            get => _mode;
            set
            {
                lock (_free)
                {
                    _mode = value;
                    DisposeKept();
                }
            }
        }

        public VerifiedBatch Rent()
        {
            BatchReadMode mode;
            lock (_free)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                if (_free.TryPop(out var kept))
                    return kept;
                mode = _mode;
            }
            return new VerifiedBatch(mode, blockSize);
        }

        public void Return(VerifiedBatch batch)
        {
            lock (_free)
            {
                if (!_disposed && !batch._reads.Broken && batch.Requested == _mode && _free.Count < MaxKept)
                {
                    _free.Push(batch);
                    return;
                }
            }
            batch.Dispose();
        }

        public void Dispose()
        {
            lock (_free)
            {
                _disposed = true;
                DisposeKept();
            }
        }

        private void DisposeKept()
        {
            while (_free.TryPop(out var batch))
                batch.Dispose();
        }
    }
}
