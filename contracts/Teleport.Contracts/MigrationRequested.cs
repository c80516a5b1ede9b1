namespace Teleport.Contracts;

/// <summary>Event that asks for a VM's volume to be live-migrated from one storage server to another; starts the saga.</summary>
public sealed record MigrationRequested(
    Guid MigrationId,
    string VmId,
    string VolumeId,
    string SourceStorageId,
    string DestinationStorageId,
    string HostId,
    MigrationOptions Options,
    DateTimeOffset RequestedAt);
