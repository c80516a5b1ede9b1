namespace Teleport.Contracts;

/// <summary>Event from the host worker: the VM runs again; with VmPaused it bounds the downtime.</summary>
/// <remarks>Attempt: which attempt of the migration this belongs to (a retry starts the next); workers echo the command's attempt so the saga can ignore late answers of an earlier one.</remarks>
public sealed record VmResumed(Guid MigrationId, string VmId, string HostId, DateTimeOffset ResumedAt, int Attempt = 1);
