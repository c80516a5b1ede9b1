namespace Teleport.Contracts;

/// <summary>Command to the source storage worker: send the last dirty blocks and verify the destination equals the source.</summary>
public sealed record FinalSync(Guid MigrationId, string VolumeId, string SourceStorageId);
