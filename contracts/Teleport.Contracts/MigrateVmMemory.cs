namespace Teleport.Contracts;

/// <summary>
/// Command to the source host worker: start QEMU's memory migration to the destination host's incoming QEMU, with
/// pause-before-switchover, and report progress until QEMU reaches pre-switchover (MemoryPreSwitchover).
/// </summary>
/// <remarks>
/// Attempt: which attempt of the migration this belongs to (a retry starts the next); workers echo the command's attempt so the saga can ignore late answers of an earlier one.
/// ContinueAtSwitchover (fenced cut-overs): the host runs migrate-continue itself as soon as QEMU reaches pre-switchover and
/// its disk path is drained, then reports MemoryPreSwitchover; no broker round trip while the vCPUs are stopped. The
/// destination still runs the VM only on the saga's ResumeVm, so a rollback until then resumes the source.
/// </remarks>
public sealed record MigrateVmMemory(
    Guid MigrationId,
    string VmId,
    string HostId,
    string DestinationHostId,
    string MigrationEndpoint,
    long? BandwidthBytesPerSecond,
    MemoryMigrationOptions Options,
    int Attempt = 1,
    bool ContinueAtSwitchover = false);
