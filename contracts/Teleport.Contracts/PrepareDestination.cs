namespace Teleport.Contracts;

/// <summary>Command to the destination storage worker: reserve the volume, open the data channel and issue the migration secret.</summary>
/// <remarks>Attempt: which attempt of the migration this belongs to (a retry starts the next); workers echo the command's attempt so the saga can ignore late answers of an earlier one.</remarks>
public sealed record PrepareDestination(
    Guid MigrationId,
    string VolumeId,
    string SourceStorageId,
    string DestinationStorageId,
    MigrationOptions Options,
    int Attempt = 1);
