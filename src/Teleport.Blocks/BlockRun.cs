namespace Teleport.Blocks;

/// <summary>A run of consecutive blocks: [Start, Start + Count).</summary>
public readonly record struct BlockRun(long Start, long Count)
{
    /// <summary>First block after the run.</summary>
    public long End => Start + Count;
}
