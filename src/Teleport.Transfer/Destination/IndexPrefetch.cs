using Teleport.Blocks;

namespace Teleport.Transfer;

/// <summary>
/// Index lookups of one IndexBatch, done ahead of its in-order application: the reads and hash checks of index hits
/// are most of a batch's cost, and a miss is only known once they are done. The candidates (added in ascending block
/// order, taken back in that order) are read in windows of 2 MiB of blocks on two pool threads, in batches of 128
/// (<see cref="BlockIndex.ReadVerified"/>: a batch's entries, then its blocks, each with one system call), the next
/// window while the caller writes out the current one, so the reads, the hashing and the writes overlap.
/// </summary>
internal sealed class IndexPrefetch
{
    // Lookups per batched read: a window is 4 of them, taken by the two threads.
    private const int Batch = 128;

    private readonly BlockIndex _index;
    private readonly int _blockSize;
    private readonly int _window;
    private readonly byte[] _fallback;

    // Two window buffers: window w is read into _data[w % 2] by _reads[w % 2].
    private readonly byte[][] _data = new byte[2][];
    private readonly Task[] _reads = [Task.CompletedTask, Task.CompletedTask];
    private long[] _blocks = new long[1024];
    private FingerprintPrefix[] _prefixes = new FingerprintPrefix[1024];
    private Fingerprint[] _found = new Fingerprint[1024];
    private bool[] _hits = new bool[1024];
    private int _count, _next, _started;

    /// <summary>Looks up in <paramref name="index"/>, an index of the volume's block size.</summary>
    public IndexPrefetch(BlockIndex index)
    {
        _index = index;
        _blockSize = index.BlockSize;
        // 2 MiB of blocks per window (512 blocks of 4 KiB): a batch has several, so most of its reads overlap its writes.
        _window = Math.Max(1, (2 << 20) / _blockSize);
        _fallback = new byte[_blockSize];
    }

    /// <summary>Forgets the previous batch's lookups (once their reads have ended).</summary>
    public void Clear()
    {
        Settle();
        _count = _next = _started = 0;
    }

    /// <summary>Adds a block to look up (blocks ascending).</summary>
    public void Add(long block, in FingerprintPrefix prefix)
    {
        if (_count == _blocks.Length)
        {
            Array.Resize(ref _blocks, _count * 2);
            Array.Resize(ref _prefixes, _count * 2);
            Array.Resize(ref _found, _count * 2);
            Array.Resize(ref _hits, _count * 2);
        }

        _blocks[_count] = block;
        _prefixes[_count] = prefix;
        _count++;
    }

    /// <summary>Starts reading the first window of what was added.</summary>
    public void Start() => StartWindow(0);

    /// <summary>Waits for reads still running (their results are no longer wanted; a failure was or is reported by <see cref="TryRead"/>).</summary>
    public void Settle()
    {
        foreach (var read in _reads)
        {
            try
            {
                read.Wait();
            }
            catch (AggregateException)
            {
                // Not looked at: the block it failed on was not asked for.
            }
        }
    }

    /// <summary>
    /// The block from the index: looked up ahead, or now. <paramref name="data"/> is block-sized and
    /// <paramref name="fingerprint"/> its full fingerprint; it stays valid until the next call.
    /// </summary>
    public bool TryRead(long block, in FingerprintPrefix prefix, out ReadOnlySpan<byte> data, out Fingerprint fingerprint)
    {
        data = default;
        while (_next < _count && _blocks[_next] < block)
            _next++;
        if (_next < _count && _blocks[_next] == block && _prefixes[_next] == prefix)
        {
            int at = _next++;
            int window = at / _window;
            StartWindow(window);
            _reads[window % 2].GetAwaiter().GetResult();
            // The window after this one is read while this one is written out.
            StartWindow(window + 1);
            data = _data[window % 2].AsSpan(at % _window * _blockSize, _blockSize);
            fingerprint = _found[at];
            return _hits[at];
        }

        if (!_index.TryReadVerified(prefix, _fallback, out fingerprint))
            return false;
        data = _fallback;
        return true;
    }

    // Lookups [start, end) of the window starting at windowStart, as one batched lookup (its entries, then its blocks,
    // each with one io_uring submission).
    private void ReadBatch(int start, int end, byte[] buffer, int windowStart) =>
        _index.ReadVerified(_prefixes.AsSpan(start, end - start), buffer.AsSpan((start - windowStart) * _blockSize, (end - start) * _blockSize),
            _hits.AsSpan(start, end - start), _found.AsSpan(start, end - start));

    /// <summary>Starts the reads of windows up to <paramref name="window"/> not started yet (each into the buffer two windows back).</summary>
    private void StartWindow(int window)
    {
        while (_started <= window && _started * _window < _count)
        {
            int slot = _started % 2;
            // The caller has moved past the window this buffer held (or skipped it): its read must end first.
            _reads[slot].GetAwaiter().GetResult();
            _data[slot] ??= new byte[_window * _blockSize];
            int from = _started * _window, to = Math.Min(_count, from + _window);
            byte[] buffer = _data[slot];
            _reads[slot] = Task.Run(() => Parallel.For(0, (to - from + Batch - 1) / Batch, new ParallelOptions { MaxDegreeOfParallelism = 2 },
                b => ReadBatch(from + (b * Batch), Math.Min(to, from + ((b + 1) * Batch)), buffer, from)));
            _started++;
        }
    }
}
