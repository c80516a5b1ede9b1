namespace Teleport.Transfer;

/// <summary>How the destination resolved the index stream (sent back with its requests).</summary>
/// <param name="Blocks">Blocks in the volume.</param>
/// <param name="ZeroBlocks">Blocks announced as zero runs.</param>
/// <param name="FromIndex">Blocks the destination rebuilt from its local block index.</param>
/// <param name="FromVolume">Blocks it already held or copies of blocks repeated inside this volume.</param>
/// <param name="Requested">Blocks it asked the source for.</param>
/// <param name="IndexBytes">Bytes of the index stream on the wire.</param>
public sealed record IndexReport(long Blocks, long ZeroBlocks, long FromIndex, long FromVolume, long Requested, long IndexBytes)
{
    /// <summary>Blocks buddies (storage workers of the destination's site) provided, verified.</summary>
    public long FromBuddies { get; init; }
}
