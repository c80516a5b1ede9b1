namespace Teleport.Contracts;

/// <summary>Command to the destination storage worker: reserve the volume, open the data channel and issue the migration secret.</summary>
public sealed record PrepareDestination(
    Guid MigrationId,
    string VolumeId,
    string SourceStorageId,
    string DestinationStorageId,
    MigrationOptions Options);
