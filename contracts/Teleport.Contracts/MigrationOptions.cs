namespace Teleport.Contracts;

/// <summary>Tunables of one migration, carried from the request to the workers (null means the worker's default).</summary>
public sealed record MigrationOptions(
    int? BlockSize = null,
    long? BandwidthBytesPerSecond = null,
    long? DirtyThresholdBlocks = null,
    int? MaxCopyRounds = null,
    int? CompressionLevel = null,
    bool UseIndex = true,
    MemoryMigrationOptions? Memory = null);
