namespace Teleport.Contracts;

/// <summary>Event from the host worker: the VM's disk path leads to the source export again.</summary>
public sealed record TargetSwitchedBack(Guid MigrationId, string VmId, string HostId, string StorageId, DateTimeOffset SwitchedBackAt);
