namespace Teleport.Blocks;

/// <summary>Size and use of a <see cref="BlockIndex"/>.</summary>
/// <param name="BlockSize">Bytes per block.</param>
/// <param name="Images">Images covered.</param>
/// <param name="Blocks">Blocks in all images.</param>
/// <param name="ZeroBlocks">Zero blocks in all images (not indexed: zeros never need a lookup).</param>
/// <param name="NonZeroBlocks">Non-zero blocks in all images.</param>
/// <param name="UniqueBlocks">Index entries: distinct non-zero contents.</param>
/// <param name="MemoryBytes">Resident memory of the index: its key summary (about 2.4 bytes per entry; the entries themselves are a mapped file) and unsaved additions.</param>
/// <param name="IndexBytes">Size of the index file on disk (0 before the first save).</param>
/// <param name="LookupHits">Lookups answered with a verified local block.</param>
/// <param name="LookupMisses">Lookups that found nothing usable.</param>
/// <param name="StaleCandidates">Entries read during lookups whose block no longer matched (changed image or key collision).</param>
public sealed record IndexStats(
    int BlockSize,
    int Images,
    long Blocks,
    long ZeroBlocks,
    long NonZeroBlocks,
    long UniqueBlocks,
    long MemoryBytes,
    long IndexBytes,
    long LookupHits,
    long LookupMisses,
    long StaleCandidates)
{
    /// <summary>Memory per unique block in bytes.</summary>
    public double MemoryBytesPerBlock => UniqueBlocks == 0 ? 0 : (double)MemoryBytes / UniqueBlocks;
}
