namespace Teleport.Contracts;

/// <summary>Event from the source host worker: the source QEMU of a moved VM has exited.</summary>
/// <remarks>Attempt: which attempt of the migration this belongs to (a retry starts the next); workers echo the command's attempt so the saga can ignore late answers of an earlier one.</remarks>
public sealed record SourceVmStopped(Guid MigrationId, string VmId, string HostId, DateTimeOffset StoppedAt, int Attempt = 1);
