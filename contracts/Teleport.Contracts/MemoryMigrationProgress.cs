namespace Teleport.Contracts;

/// <summary>Event from the source host worker: QEMU's query-migrate figures while memory pre-copy runs.</summary>
/// <remarks>Attempt: which attempt of the migration this belongs to (a retry starts the next); workers echo the command's attempt so the saga can ignore late answers of an earlier one.</remarks>
public sealed record MemoryMigrationProgress(
    Guid MigrationId,
    string VmId,
    string HostId,
    string Status,
    long TransferredBytes,
    long RemainingBytes,
    long TotalBytes,
    long DirtyPagesRate,
    long ExpectedDowntimeMilliseconds,
    DateTimeOffset At,
    int Attempt = 1);
