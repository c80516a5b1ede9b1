namespace Teleport.Contracts;

/// <summary>Event from the source: every block's fingerprint (or zero run) has been streamed to the destination.</summary>
/// <remarks>Attempt: which attempt of the migration this belongs to (a retry starts the next); workers echo the command's attempt so the saga can ignore late answers of an earlier one.</remarks>
public sealed record IndexStreamed(
    Guid MigrationId,
    long VolumeBytes,
    long Blocks,
    long ZeroBlocks,
    long IndexBytes,
    DateTimeOffset StreamedAt,
    int Attempt = 1);
