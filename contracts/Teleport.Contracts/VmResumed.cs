namespace Teleport.Contracts;

/// <summary>Event from the host worker: the VM runs again; with VmPaused it bounds the downtime.</summary>
public sealed record VmResumed(Guid MigrationId, string VmId, string HostId, DateTimeOffset ResumedAt);
