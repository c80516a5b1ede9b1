namespace Teleport.Contracts;

/// <summary>Event from the host worker: the VM's disk path now leads to StorageId's export.</summary>
public sealed record TargetSwitched(Guid MigrationId, string VmId, string HostId, string StorageId, DateTimeOffset SwitchedAt);
