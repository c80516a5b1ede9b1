namespace Teleport.Contracts;

/// <summary>Command to the source storage worker: connect to the destination and run the index phase and copy rounds.</summary>
/// <remarks>Secret and CertificateSha256: null when the workers use mutual TLS (then the source's configuration, not this message, says where and to whom it may connect).
/// Attempt: which attempt of the migration this belongs to (a retry starts the next); workers echo the command's attempt so the saga can ignore late answers of an earlier one.</remarks>
public sealed record StartTransfer(
    Guid MigrationId,
    string VolumeId,
    string SourceStorageId,
    string DestinationStorageId,
    string DataEndpoint,
    string? Secret,
    string? CertificateSha256,
    MigrationOptions Options,
    int Attempt = 1);
