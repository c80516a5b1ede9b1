namespace Teleport.Contracts;

/// <summary>Command to a storage worker: stop this migration, close its data channel, and keep the source volume authoritative.</summary>
/// <remarks>Attempt: which attempt of the migration this belongs to (a retry starts the next); workers echo the command's attempt so the saga can ignore late answers of an earlier one.</remarks>
public sealed record AbortTransfer(Guid MigrationId, string VolumeId, string StorageId, string Reason, int Attempt = 1);
