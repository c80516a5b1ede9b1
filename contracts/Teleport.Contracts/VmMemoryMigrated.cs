namespace Teleport.Contracts;

/// <summary>
/// Event from the source host worker: QEMU's migration completed; the destination QEMU holds memory and devices and
/// is still paused. The source QEMU stays paused until StopSourceVm.
/// </summary>
/// <remarks>PostCopy: the memory's end went post-copy; PostCopyBytes of it were sent after the destination started
/// running, and CompletedAt is when the last of them arrived.
/// Attempt: which attempt of the migration this belongs to (a retry starts the next); workers echo the command's attempt so the saga can ignore late answers of an earlier one.</remarks>
public sealed record VmMemoryMigrated(Guid MigrationId, string VmId, string HostId, long MemoryBytes, double QemuDowntimeMilliseconds, DateTimeOffset CompletedAt, int Attempt = 1,
    bool PostCopy = false, long PostCopyBytes = 0);
