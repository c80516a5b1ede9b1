namespace Teleport.Contracts;

/// <summary>Command to the destination storage worker: reserve the volume, open the data channel and issue the migration secret.</summary>
/// <remarks>Attempt: which attempt of the migration this belongs to (a retry starts the next); workers echo the command's attempt so the saga can ignore late answers of an earlier one.
/// AllowedClient: the host id (client certificate CN) that may open the volume's NBD export over TLS once it is served there, the VM's host; null or empty adds nobody.</remarks>
public sealed record PrepareDestination(
    Guid MigrationId,
    string VolumeId,
    string SourceStorageId,
    string DestinationStorageId,
    MigrationOptions Options,
    int Attempt = 1,
    string? AllowedClient = null);
