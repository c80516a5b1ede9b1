namespace Teleport.Contracts;

/// <summary>Command to the source storage worker: send the last dirty blocks and verify the destination equals the source.</summary>
/// <remarks>Attempt: which attempt of the migration this belongs to (a retry starts the next); workers echo the command's attempt so the saga can ignore late answers of an earlier one.</remarks>
public sealed record FinalSync(Guid MigrationId, string VolumeId, string SourceStorageId, int Attempt = 1);
