namespace Teleport.Contracts;

/// <summary>Command to the source storage worker: connect to the destination and run the index phase and copy rounds.</summary>
public sealed record StartTransfer(
    Guid MigrationId,
    string VolumeId,
    string SourceStorageId,
    string DestinationStorageId,
    string DataEndpoint,
    string Secret,
    string? CertificateSha256,
    MigrationOptions Options);
