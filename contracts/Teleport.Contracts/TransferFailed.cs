namespace Teleport.Contracts;

/// <summary>Event from a storage worker: its side of the migration cannot go on.</summary>
/// <remarks>Attempt: which attempt of the migration this belongs to (a retry starts the next); workers echo the command's attempt so the saga can ignore late answers of an earlier one.</remarks>
public sealed record TransferFailed(Guid MigrationId, string StorageId, string Phase, string Reason, DateTimeOffset FailedAt, int Attempt = 1);
