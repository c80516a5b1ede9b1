namespace Teleport.Contracts;

/// <summary>Event published by the orchestrator for other systems: the VM runs on the destination's volume.</summary>
/// <remarks>
/// For a whole-VM move DestinationHostId names the host the VM now runs on, MemoryBytes what QEMU's memory migration
/// sent, and DowntimeMilliseconds splits into QEMU's part (its own stop-and-copy) and the storage part (final disk sync
/// and verification while the source's vCPUs were stopped). Storage-only moves leave them at their defaults.
/// PredictedDowntimeMilliseconds (storage-only moves): the pause the downtime controller predicted when it paused, beside the measured one.
/// PostCopy (fenced storage-only moves): pre-copy did not converge and the cut-over fenced the whole dirty set, which then
/// streamed behind the VM resumed on the destination (docs/saga.md, "Post-copy").
/// </remarks>
public sealed record MigrationSucceeded(
    Guid MigrationId,
    string VmId,
    string VolumeId,
    string DestinationStorageId,
    long VolumeBytes,
    long BytesOnWire,
    long BlocksFromIndex,
    int Rounds,
    double DowntimeMilliseconds,
    DateTimeOffset SucceededAt,
    string? DestinationHostId = null,
    long MemoryBytes = 0,
    double QemuDowntimeMilliseconds = 0,
    double StorageDowntimeMilliseconds = 0,
    double? PredictedDowntimeMilliseconds = null,
    bool PostCopy = false);
