namespace Teleport.Cli.Commands;

/// <summary>The JSON object <c>teleport index build|stats --json</c> prints.</summary>
internal sealed record IndexSummary(
    int BlockSize,
    int Files,
    long Blocks,
    long ZeroBlocks,
    long UniqueBlocks,
    long BytesRead,
    double Seconds,
    long IndexBytes,
    int FilesScanned,
    int FilesSkipped,
    int FilesRemoved,
    long MemoryBytes = 0); // the index's resident memory (BlockIndex.Stats.MemoryBytes)
