namespace Teleport.Contracts;

/// <summary>Event from the host worker: the VM's disk path now leads to StorageId's export.</summary>
/// <remarks>Attempt: which attempt of the migration this belongs to (a retry starts the next); workers echo the command's attempt so the saga can ignore late answers of an earlier one.</remarks>
public sealed record TargetSwitched(Guid MigrationId, string VmId, string HostId, string StorageId, DateTimeOffset SwitchedAt, int Attempt = 1);
