namespace Teleport.Contracts;

/// <summary>Event from the destination host worker: the incoming QEMU is gone (or never started).</summary>
/// <remarks>Attempt: which attempt of the migration this belongs to (a retry starts the next); workers echo the command's attempt so the saga can ignore late answers of an earlier one.</remarks>
public sealed record IncomingVmDiscarded(Guid MigrationId, string VmId, string HostId, DateTimeOffset DiscardedAt, int Attempt = 1);
