namespace Teleport.Contracts;

/// <summary>Event from the source: the dirty set is small enough (or the round cap was hit) to pause the VM for the final round.</summary>
public sealed record DirtyBelowThreshold(
    Guid MigrationId,
    int Rounds,
    long DirtyBlocks,
    bool RoundCapReached,
    DateTimeOffset ReachedAt);
