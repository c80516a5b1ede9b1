namespace Teleport.Contracts;

/// <summary>Event from the source: every block's fingerprint (or zero run) has been streamed to the destination.</summary>
public sealed record IndexStreamed(
    Guid MigrationId,
    long VolumeBytes,
    long Blocks,
    long ZeroBlocks,
    long IndexBytes,
    DateTimeOffset StreamedAt);
