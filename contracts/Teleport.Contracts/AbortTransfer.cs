namespace Teleport.Contracts;

/// <summary>Command to a storage worker: stop this migration, close its data channel, and keep the source volume authoritative.</summary>
public sealed record AbortTransfer(Guid MigrationId, string VolumeId, string StorageId, string Reason);
