namespace Teleport.Contracts;

/// <summary>Event from a storage worker: its side of the migration has stopped and released its resources.</summary>
/// <remarks>Attempt: which attempt of the migration this belongs to (a retry starts the next); workers echo the command's attempt so the saga can ignore late answers of an earlier one.</remarks>
public sealed record TransferAborted(Guid MigrationId, string StorageId, DateTimeOffset AbortedAt, int Attempt = 1);
