namespace Teleport.Contracts;

/// <summary>Event from the destination: it listens for the source on DataEndpoint and accepts only peers proving Secret.</summary>
public sealed record DestinationPrepared(
    Guid MigrationId,
    string DestinationStorageId,
    string VolumeId,
    string DataEndpoint,
    string Secret,
    string? CertificateSha256,
    DateTimeOffset PreparedAt);
