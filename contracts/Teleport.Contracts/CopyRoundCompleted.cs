namespace Teleport.Contracts;

/// <summary>Event from the source after each copy round: what this round sent (not running totals) and the dirty blocks left for the next.</summary>
public sealed record CopyRoundCompleted(
    Guid MigrationId,
    int Round,
    long BlocksSent,
    long BytesOnWire,
    long DirtyBlocksRemaining,
    double BytesPerSecond,
    DateTimeOffset CompletedAt);
