namespace Teleport.Contracts;

/// <summary>Event from a storage worker: its side of the migration has stopped and released its resources.</summary>
public sealed record TransferAborted(Guid MigrationId, string StorageId, DateTimeOffset AbortedAt);
