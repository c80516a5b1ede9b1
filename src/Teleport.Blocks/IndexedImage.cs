namespace Teleport.Blocks;

/// <summary>One image the index covers, as reported to operators.</summary>
/// <param name="Path">Full path of the file or block device.</param>
/// <param name="Blocks">Blocks in the image when last scanned (0 for one only filled by received blocks).</param>
/// <param name="ZeroBlocks">Zero blocks (holes included); never indexed.</param>
/// <param name="NonZeroBlocks">Non-zero blocks scanned or received.</param>
/// <param name="SharedBlocks">Non-zero blocks whose content another image's entry already covers.</param>
/// <param name="IsBlockDevice">Block devices have no change stamp, so every update re-reads them.</param>
/// <param name="Live">Receiving blocks from a migration since the last save.</param>
public sealed record IndexedImage(
    string Path, long Blocks, long ZeroBlocks, long NonZeroBlocks, long SharedBlocks, bool IsBlockDevice, bool Live);
