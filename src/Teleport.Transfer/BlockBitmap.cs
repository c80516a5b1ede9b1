using System.Numerics;
using Teleport.Blocks;

namespace Teleport.Transfer;

/// <summary>
/// A plain (single-threaded) set of block numbers with a running count and fast run enumeration. Used for the
/// destination's presence map and the source's pending set; callers synchronise when they share it.
/// </summary>
internal sealed class BlockBitmap
{
    private readonly ulong[] _words;

    public BlockBitmap(long blockCount)
    {
        BlockCount = blockCount;
        _words = new ulong[(blockCount + 63) / 64];
    }

    public long BlockCount { get; }

    public long Count { get; private set; }

    internal ulong[] Words => _words;

    public bool Test(long block) => (_words[block >> 6] & (1UL << (int)(block & 63))) != 0;

    public bool Set(long block)
    {
        ref ulong word = ref _words[block >> 6];
        ulong bit = 1UL << (int)(block & 63);
        if ((word & bit) != 0)
            return false;
        word |= bit;
        Count++;
        return true;
    }

    public bool Clear(long block)
    {
        ref ulong word = ref _words[block >> 6];
        ulong bit = 1UL << (int)(block & 63);
        if ((word & bit) == 0)
            return false;
        word &= ~bit;
        Count--;
        return true;
    }

    public void SetRange(long start, long count)
    {
        for (long b = start, end = start + count; b < end;)
        {
            if ((b & 63) == 0 && end - b >= 64)
            {
                Count += 64 - BitOperations.PopCount(_words[b >> 6]);
                _words[b >> 6] = ulong.MaxValue;
                b += 64;
            }
            else
            {
                Set(b++);
            }
        }
    }

    public void ClearRange(long start, long count)
    {
        for (long b = start, end = start + count; b < end;)
        {
            if ((b & 63) == 0 && end - b >= 64)
            {
                Count -= BitOperations.PopCount(_words[b >> 6]);
                _words[b >> 6] = 0;
                b += 64;
            }
            else
            {
                Clear(b++);
            }
        }
    }

    public void ClearAll()
    {
        Array.Clear(_words);
        Count = 0;
    }

    /// <summary>First set block at or after <paramref name="from"/>, or -1.</summary>
    public long NextSet(long from) => Next(from, set: true);

    /// <summary>First clear block at or after <paramref name="from"/>, or <see cref="BlockCount"/>.</summary>
    public long NextClear(long from)
    {
        long b = Next(from, set: false);
        return b < 0 ? BlockCount : b;
    }

    private long Next(long from, bool set)
    {
        if (from >= BlockCount)
            return -1;
        long wordIndex = from >> 6;
        ulong word = set ? _words[wordIndex] : ~_words[wordIndex];
        word &= ulong.MaxValue << (int)(from & 63);
        while (true)
        {
            if (word != 0)
            {
                long b = (wordIndex << 6) + BitOperations.TrailingZeroCount(word);
                return b < BlockCount ? b : -1;
            }

            if (++wordIndex >= _words.Length)
                return -1;
            word = set ? _words[wordIndex] : ~_words[wordIndex];
        }
    }

    /// <summary>Maximal runs of set blocks in ascending order.</summary>
    public IEnumerable<BlockRun> Runs()
    {
        long b = NextSet(0);
        while (b >= 0)
        {
            long end = NextClear(b);
            yield return new BlockRun(b, end - b);
            b = NextSet(end);
        }
    }

    /// <summary>Maximal runs of clear blocks in ascending order.</summary>
    public IEnumerable<BlockRun> ClearRuns()
    {
        long b = NextClear(0);
        while (b < BlockCount)
        {
            long end = NextSet(b);
            if (end < 0)
                end = BlockCount;
            yield return new BlockRun(b, end - b);
            b = NextClear(end);
        }
    }

    internal void LoadWords(ReadOnlySpan<ulong> words)
    {
        words.CopyTo(_words);
        // Bits past the last block are never set.
        if ((BlockCount & 63) != 0 && _words.Length > 0)
            _words[^1] &= (1UL << (int)(BlockCount & 63)) - 1;
        long count = 0;
        foreach (ulong w in _words)
            count += BitOperations.PopCount(w);
        Count = count;
    }
}
