namespace Teleport.Contracts;

/// <summary>Command to the host worker (rollback): repoint the paused VM's disk path back to the source export it used before this migration; idempotent.</summary>
/// <remarks>Attempt: which attempt of the migration this belongs to (a retry starts the next); workers echo the command's attempt so the saga can ignore late answers of an earlier one.</remarks>
public sealed record SwitchBack(Guid MigrationId, string VmId, string HostId, string VolumeId, string SourceStorageId, int Attempt = 1);
