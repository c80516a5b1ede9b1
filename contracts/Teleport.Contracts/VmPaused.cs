namespace Teleport.Contracts;

/// <summary>Event from the host worker: the VM is paused and no disk request is in flight.</summary>
public sealed record VmPaused(Guid MigrationId, string VmId, string HostId, DateTimeOffset PausedAt);
