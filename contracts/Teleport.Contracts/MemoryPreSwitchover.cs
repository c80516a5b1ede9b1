namespace Teleport.Contracts;

/// <summary>
/// Event from the source host worker: QEMU reached pre-switchover. The source's vCPUs are stopped, its disk path
/// holds no request in flight, and QEMU waits for migrate-continue: the disk's final sync runs now.
/// </summary>
/// <remarks>PostCopy: QEMU stopped the vCPUs to start post-copy (pre-copy did not converge): after migrate-continue the
/// destination runs while the rest of memory streams from the source, which can then never resume.
/// Attempt: which attempt of the migration this belongs to (a retry starts the next); workers echo the command's attempt so the saga can ignore late answers of an earlier one.</remarks>
public sealed record MemoryPreSwitchover(Guid MigrationId, string VmId, string HostId, DateTimeOffset PausedAt, long MemoryBytes, int Attempt = 1, bool PostCopy = false);
