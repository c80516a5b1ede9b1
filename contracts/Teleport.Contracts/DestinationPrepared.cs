namespace Teleport.Contracts;

/// <summary>Event from the destination: it listens for the source on DataEndpoint and accepts only peers proving Secret (or, with MutualTls, presenting the source storage's certificate); after the cut-over the VM's disk is ExportName at NbdEndpoint.</summary>
/// <remarks>Attempt: which attempt of the migration this belongs to (echoed from PrepareDestination). MutualTls: both storage workers authenticate by certificates from the operator's CA; Secret and CertificateSha256 are then null (no secret on the bus).</remarks>
public sealed record DestinationPrepared(
    Guid MigrationId,
    string DestinationStorageId,
    string VolumeId,
    string DataEndpoint,
    string? Secret,
    string? CertificateSha256,
    string NbdEndpoint,
    string ExportName,
    DateTimeOffset PreparedAt,
    int Attempt = 1,
    bool MutualTls = false);
