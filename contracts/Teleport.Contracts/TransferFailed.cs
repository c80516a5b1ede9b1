namespace Teleport.Contracts;

/// <summary>Event from a storage worker: its side of the migration cannot go on.</summary>
public sealed record TransferFailed(Guid MigrationId, string StorageId, string Phase, string Reason, DateTimeOffset FailedAt);
