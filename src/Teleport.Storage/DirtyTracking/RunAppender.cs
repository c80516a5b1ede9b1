using System.Numerics;
using Teleport.Blocks;

namespace Teleport.Storage.DirtyTracking;

/// <summary>
/// Appends the set bits of successive 64-bit words as maximal block runs, merging a run that continues the
/// previous one across words. Runs already in the list before it was created are never touched.
/// </summary>
internal readonly struct RunAppender(List<BlockRun> runs)
{
    private readonly int _firstNew = runs.Count;

    /// <summary>Adds the set bits of <paramref name="bits"/>, bit i standing for block <paramref name="firstBlock"/> + i.</summary>
    public void Add(long firstBlock, ulong bits)
    {
        while (bits != 0)
        {
            int start = BitOperations.TrailingZeroCount(bits);
            int length = Math.Min(BitOperations.TrailingZeroCount(~(bits >> start)), 64 - start);
            long block = firstBlock + start;
            if (runs.Count > _firstNew && runs[^1].End == block)
                runs[^1] = runs[^1] with { Count = runs[^1].Count + length };
            else
                runs.Add(new BlockRun(block, length));
            bits = start + length >= 64 ? 0 : bits & ~((1UL << (start + length)) - 1);
        }
    }
}
