namespace Teleport.Contracts;

/// <summary>Command to the host worker (rollback): repoint the paused VM's disk path back to the source export it used before this migration; idempotent.</summary>
public sealed record SwitchBack(Guid MigrationId, string VmId, string HostId, string VolumeId, string SourceStorageId);
