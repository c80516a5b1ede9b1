namespace Teleport.Contracts;

/// <summary>Event from the destination: it listens for the source on DataEndpoint and accepts only peers proving Secret; after the cut-over the VM's disk is ExportName at NbdEndpoint.</summary>
/// <remarks>Attempt: which attempt of the migration this belongs to (echoed from PrepareDestination).</remarks>
public sealed record DestinationPrepared(
    Guid MigrationId,
    string DestinationStorageId,
    string VolumeId,
    string DataEndpoint,
    string Secret,
    string? CertificateSha256,
    string NbdEndpoint,
    string ExportName,
    DateTimeOffset PreparedAt,
    int Attempt = 1);
