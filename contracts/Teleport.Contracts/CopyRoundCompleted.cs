namespace Teleport.Contracts;

/// <summary>Event from the source after each copy round: what this round sent (not running totals) and the dirty blocks left for the next.</summary>
/// <remarks>Attempt: which attempt of the migration this belongs to (a retry starts the next); workers echo the command's attempt so the saga can ignore late answers of an earlier one.
/// RoundTripMilliseconds: the data connection's round trip (TCP's smoothed estimate) at the round's end, for the downtime controller; null where unknown.</remarks>
public sealed record CopyRoundCompleted(
    Guid MigrationId,
    int Round,
    long BlocksSent,
    long BytesOnWire,
    long DirtyBlocksRemaining,
    double BytesPerSecond,
    DateTimeOffset CompletedAt,
    int Attempt = 1,
    double? RoundTripMilliseconds = null);
