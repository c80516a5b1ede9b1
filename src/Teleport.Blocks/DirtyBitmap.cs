using System.Numerics;

namespace Teleport.Blocks;

/// <summary>
/// One bit per block, lock-free: every change is an Interlocked operation on a 64-bit word, so a writer that
/// sets a bit while <see cref="TakeDirty"/> clears the same word never loses its write — the bit is either in
/// the returned runs or still set afterwards.
/// </summary>
public sealed class DirtyBitmap : IDirtyTracker
{
    private readonly ulong[] _words;
    private long _dirtyCount;

    public DirtyBitmap(long blockCount, int blockSize)
    {
        BlockSizes.Validate(blockSize);
        ArgumentOutOfRangeException.ThrowIfNegative(blockCount);
        BlockCount = blockCount;
        BlockSize = blockSize;
        _words = new ulong[(blockCount + 63) / 64];
    }

    /// <summary>A bitmap covering a volume of <paramref name="volumeBytes"/> bytes (a final partial block counts).</summary>
    public static DirtyBitmap ForVolume(long volumeBytes, int blockSize) =>
        new(BlockSizes.CountBlocks(volumeBytes, blockSize), blockSize);

    public int BlockSize { get; }

    public long BlockCount { get; }

    /// <summary>Blocks currently dirty. Exact when no writer is running; under concurrency it may briefly lag.</summary>
    public long DirtyCount => Math.Max(0, Volatile.Read(ref _dirtyCount));

    public bool Test(long block)
    {
        CheckBlock(block);
        return (Volatile.Read(ref _words[block >> 6]) & Bit(block)) != 0;
    }

    /// <summary>Sets the block's bit; true when it was clear before.</summary>
    public bool Set(long block)
    {
        CheckBlock(block);
        ulong bit = Bit(block);
        bool wasClear = (Interlocked.Or(ref _words[block >> 6], bit) & bit) == 0;
        if (wasClear)
            Interlocked.Increment(ref _dirtyCount);
        return wasClear;
    }

    /// <summary>Clears the block's bit atomically; true when it was set.</summary>
    public bool TestAndClear(long block)
    {
        CheckBlock(block);
        ulong bit = Bit(block);
        bool wasSet = (Interlocked.And(ref _words[block >> 6], ~bit) & bit) != 0;
        if (wasSet)
            Interlocked.Decrement(ref _dirtyCount);
        return wasSet;
    }

    public void SetAll() => MarkDirty(0, BlockCount);

    public void ClearAll()
    {
        long cleared = 0;
        for (int i = 0; i < _words.Length; i++)
            cleared += BitOperations.PopCount(Interlocked.Exchange(ref _words[i], 0));
        Interlocked.Add(ref _dirtyCount, -cleared);
    }

    /// <summary>Marks every block that the byte range [offset, offset + length) touches. Length 0 marks nothing.</summary>
    public void MarkDirtyBytes(long offset, long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (length == 0)
            return;
        if (offset > long.MaxValue - length)
            throw new ArgumentOutOfRangeException(nameof(length), $"Byte range at {offset} of length {length} overflows.");
        long first = offset / BlockSize;
        long last = (offset + length - 1) / BlockSize;
        if (last >= BlockCount)
            throw new ArgumentOutOfRangeException(nameof(length),
                $"Byte range [{offset}, {offset + length}) reaches block {last}, past the volume's {BlockCount} blocks of {BlockSize} bytes.");
        MarkDirty(first, last - first + 1);
    }

    public void MarkDirty(long firstBlock, long blockCount)
    {
        CheckRange(firstBlock, blockCount);
        long added = 0;
        long end = firstBlock + blockCount;
        for (long block = firstBlock; block < end;)
        {
            long index = block >> 6;
            ulong mask = RangeMask(block, end);
            added += BitOperations.PopCount(mask & ~Interlocked.Or(ref _words[index], mask));
            block = (index + 1) << 6;
        }
        Interlocked.Add(ref _dirtyCount, added);
    }

    public long TakeDirty(long firstBlock, long blockCount, List<BlockRun> taken)
    {
        ArgumentNullException.ThrowIfNull(taken);
        CheckRange(firstBlock, blockCount);
        var builder = new RunBuilder(taken);
        long total = 0;
        long end = firstBlock + blockCount;
        for (long block = firstBlock; block < end;)
        {
            long index = block >> 6;
            ulong mask = RangeMask(block, end);
            // A word seen as clean needs no atomic: a bit set after this read stays set for the next take.
            if ((Volatile.Read(ref _words[index]) & mask) != 0)
            {
                ulong previous = mask == ulong.MaxValue
                    ? Interlocked.Exchange(ref _words[index], 0)
                    : Interlocked.And(ref _words[index], ~mask);
                ulong bits = previous & mask;
                total += BitOperations.PopCount(bits);
                builder.AddWord(index << 6, bits);
            }
            block = (index + 1) << 6;
        }
        Interlocked.Add(ref _dirtyCount, -total);
        return total;
    }

    /// <summary>
    /// Maximal runs of set bits in ascending order. Not an atomic snapshot: each 64-bit word is read once, in
    /// order, so bits changed concurrently may or may not appear; without concurrent writers it is exact.
    /// </summary>
    public IEnumerable<BlockRun> Runs()
    {
        long runStart = -1, runEnd = -1;
        for (int index = 0; index < _words.Length; index++)
        {
            ulong bits = Volatile.Read(ref _words[index]);
            long wordBase = (long)index << 6;
            while (bits != 0)
            {
                int start = BitOperations.TrailingZeroCount(bits);
                int length = OnesFrom(bits, start);
                long s = wordBase + start;
                if (s == runEnd)
                {
                    runEnd += length;
                }
                else
                {
                    if (runStart >= 0)
                        yield return new BlockRun(runStart, runEnd - runStart);
                    runStart = s;
                    runEnd = s + length;
                }
                bits &= ClearLow(start + length);
            }
        }
        if (runStart >= 0)
            yield return new BlockRun(runStart, runEnd - runStart);
    }

    // Bits of the word holding `block` that fall in [block, end).
    private static ulong RangeMask(long block, long end)
    {
        int low = (int)(block & 63);
        long wordEnd = (block | 63) + 1;
        int high = end >= wordEnd ? 64 : (int)(end & 63);
        ulong upTo = high == 64 ? ulong.MaxValue : (1UL << high) - 1;
        return upTo & ~((1UL << low) - 1);
    }

    private static int OnesFrom(ulong bits, int start) =>
        Math.Min(BitOperations.TrailingZeroCount(~(bits >> start)), 64 - start);

    private static ulong ClearLow(int count) => count >= 64 ? 0 : ~((1UL << count) - 1);

    private static ulong Bit(long block) => 1UL << (int)(block & 63);

    private void CheckBlock(long block)
    {
        if ((ulong)block >= (ulong)BlockCount)
            throw new ArgumentOutOfRangeException(nameof(block), $"Block {block} is outside the volume's {BlockCount} blocks.");
    }

    private void CheckRange(long firstBlock, long blockCount)
    {
        if (firstBlock < 0 || blockCount < 0 || firstBlock > BlockCount - blockCount)
            throw new ArgumentOutOfRangeException(nameof(blockCount),
                $"Block range [{firstBlock}, {firstBlock}+{blockCount}) is outside the volume's {BlockCount} blocks.");
    }

    // Appends maximal runs, merging a run that continues the previous one across words.
    private readonly struct RunBuilder(List<BlockRun> runs)
    {
        private readonly int _firstNew = runs.Count;

        public void AddWord(long wordBase, ulong bits)
        {
            while (bits != 0)
            {
                int start = BitOperations.TrailingZeroCount(bits);
                int length = OnesFrom(bits, start);
                long s = wordBase + start;
                if (runs.Count > _firstNew && runs[^1].End == s)
                    runs[^1] = runs[^1] with { Count = runs[^1].Count + length };
                else
                    runs.Add(new BlockRun(s, length));
                bits &= ClearLow(start + length);
            }
        }
    }
}
