namespace Teleport.Blocks;

/// <summary>What one <see cref="BlockIndex.Update"/> did.</summary>
/// <param name="ImagesScanned">Images read (new, changed, block devices, or re-read to restore shared coverage).</param>
/// <param name="ImagesSkipped">Images unchanged since they were indexed, not read.</param>
/// <param name="ImagesRemoved">Images that no longer exist; their entries are gone.</param>
/// <param name="BlocksScanned">Blocks visited in scanned images.</param>
/// <param name="ZeroBlocks">Of those, zero blocks (holes included).</param>
/// <param name="BytesRead">Bytes actually read from disk (holes are skipped).</param>
/// <param name="EntriesAdded">New index entries.</param>
/// <param name="EntriesRemoved">Entries dropped because their image changed or disappeared.</param>
/// <param name="Elapsed">Wall-clock time of the update.</param>
/// <param name="ScannedPaths">Full paths of the images read.</param>
public sealed record IndexBuildReport(
    int ImagesScanned,
    int ImagesSkipped,
    int ImagesRemoved,
    long BlocksScanned,
    long ZeroBlocks,
    long BytesRead,
    long EntriesAdded,
    long EntriesRemoved,
    TimeSpan Elapsed,
    IReadOnlyList<string> ScannedPaths);
