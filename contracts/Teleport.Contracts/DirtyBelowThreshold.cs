namespace Teleport.Contracts;

/// <summary>Event from the source: the dirty set is small enough (or the round cap was hit) to pause the VM for the final round.</summary>
/// <remarks>Attempt: which attempt of the migration this belongs to (a retry starts the next); workers echo the command's attempt so the saga can ignore late answers of an earlier one.
/// RoundTripMilliseconds: the data connection's round trip at the last round's end (as in CopyRoundCompleted), for the downtime controller when this event
/// overtakes that round's CopyRoundCompleted (events of different types may arrive out of order); null where unknown.</remarks>
public sealed record DirtyBelowThreshold(
    Guid MigrationId,
    int Rounds,
    long DirtyBlocks,
    bool RoundCapReached,
    DateTimeOffset ReachedAt,
    int Attempt = 1,
    double? RoundTripMilliseconds = null);
