namespace Teleport.Blocks;

/// <summary>
/// How a target image relates to a set of base images, block by block. Zero blocks never cross the wire;
/// hit blocks are rebuilt from the bases; self-duplicates repeat an earlier target block, so they cross once.
/// </summary>
public sealed record SimilarityReport(
    int BlockSize,
    long Blocks,
    long ZeroBlocks,
    long NonZeroBlocks,
    long HitBlocks,
    long SelfDuplicateBlocks,
    long MustSendBlocks)
{
    /// <summary>Share of the target's non-zero blocks found among the bases' non-zero blocks (the study's Table 1).</summary>
    public double HitRatio => NonZeroBlocks == 0 ? 0 : (double)HitBlocks / NonZeroBlocks;

    /// <summary>Share of the target's blocks that are zero (the study's Table 2).</summary>
    public double ZeroRatio => Blocks == 0 ? 0 : (double)ZeroBlocks / Blocks;
}
