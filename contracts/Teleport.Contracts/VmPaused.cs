namespace Teleport.Contracts;

/// <summary>Event from the host worker: the VM is paused and no disk request is in flight.</summary>
/// <remarks>Attempt: which attempt of the migration this belongs to (a retry starts the next); workers echo the command's attempt so the saga can ignore late answers of an earlier one.</remarks>
public sealed record VmPaused(Guid MigrationId, string VmId, string HostId, DateTimeOffset PausedAt, int Attempt = 1);
