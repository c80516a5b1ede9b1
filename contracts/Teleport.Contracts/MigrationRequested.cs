namespace Teleport.Contracts;

/// <summary>Event that asks for a VM's volume to be live-migrated from one storage server to another; starts the saga.</summary>
/// <remarks>
/// DestinationHostId: null for a storage-only move (the VM keeps running on HostId, its disk path switched to the
/// destination storage); set for a whole-VM move (memory, vCPUs, devices and disk move to that host's incoming QEMU).
/// Optional and last, so requests published before whole-VM moves existed still deserialise.
/// </remarks>
public sealed record MigrationRequested(
    Guid MigrationId,
    string VmId,
    string VolumeId,
    string SourceStorageId,
    string DestinationStorageId,
    string HostId,
    MigrationOptions Options,
    DateTimeOffset RequestedAt,
    string? DestinationHostId = null);
