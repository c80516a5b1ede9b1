using Teleport.Blocks;

namespace Teleport.Transfer;

/// <summary>
/// Index lookups of one IndexBatch, done ahead on both cores before the batch is applied in order: the reads and hash
/// checks of index hits are most of a batch's cost, and a miss is only known once they are done. Candidates are added
/// in ascending block order and taken back in that order.
/// </summary>
internal sealed class IndexPrefetch
{
    private const int MaxBlocks = 2048;

    private readonly BlockIndex _index;
    private readonly int _blockSize;
    private readonly int _limit;
    private readonly long[] _blocks = new long[MaxBlocks];
    private readonly FingerprintPrefix[] _prefixes = new FingerprintPrefix[MaxBlocks];
    private readonly Fingerprint[] _found = new Fingerprint[MaxBlocks];
    private readonly bool[] _hits = new bool[MaxBlocks];
    private readonly byte[] _fallback;
    private byte[] _data = [];
    private int _count, _next;

    /// <summary>Looks up in <paramref name="index"/>, an index of the volume's block size.</summary>
    public IndexPrefetch(BlockIndex index)
    {
        _index = index;
        _blockSize = index.BlockSize;
        // At most 8 MiB of blocks ahead (2048 blocks of 4 KiB).
        _limit = Math.Min(MaxBlocks, (8 << 20) / _blockSize);
        _fallback = new byte[_blockSize];
    }

    public bool Full => _count >= _limit;

    /// <summary>Forgets the previous batch's lookups.</summary>
    public void Clear() => _count = _next = 0;

    /// <summary>Adds a block to look up (blocks ascending; call while not <see cref="Full"/>).</summary>
    public void Add(long block, in FingerprintPrefix prefix)
    {
        _blocks[_count] = block;
        _prefixes[_count] = prefix;
        _count++;
    }

    /// <summary>Reads and verifies every added block from the index, two at a time.</summary>
    public void ReadAll()
    {
        if (_data.Length < _limit * _blockSize)
            _data = new byte[_limit * _blockSize];
        int blockSize = _blockSize;
        Parallel.For(0, _count, new ParallelOptions { MaxDegreeOfParallelism = 2 },
            i => _hits[i] = _index.TryReadVerified(_prefixes[i], _data.AsSpan(i * blockSize, blockSize), out _found[i]));
    }

    /// <summary>
    /// The block from the index: looked up ahead, or now. <paramref name="data"/> is block-sized and
    /// <paramref name="fingerprint"/> its full fingerprint.
    /// </summary>
    public bool TryRead(long block, in FingerprintPrefix prefix, out ReadOnlySpan<byte> data, out Fingerprint fingerprint)
    {
        data = default;
        while (_next < _count && _blocks[_next] < block)
            _next++;
        if (_next < _count && _blocks[_next] == block && _prefixes[_next] == prefix)
        {
            int at = _next++;
            data = _data.AsSpan(at * _blockSize, _blockSize);
            fingerprint = _found[at];
            return _hits[at];
        }

        if (!_index.TryReadVerified(prefix, _fallback, out fingerprint))
            return false;
        data = _fallback;
        return true;
    }
}
