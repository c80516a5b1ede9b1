using Teleport.Orchestrator;

namespace Teleport.Cli.Commands;

/// <summary>One migration as <c>teleport status --json</c> prints it (and <c>teleport watch</c> renders it).</summary>
public sealed record OperatorMigrationView(
    Guid MigrationId,
    string VmId,
    string VolumeId,
    string SourceStorageId,
    string DestinationStorageId,
    string HostId,
    string State,
    string Phase,
    int Attempt,
    bool Final,
    DateTimeOffset? RequestedAt,
    DateTimeOffset? PhaseEnteredAt,
    DateTime? DeadlineUtc,
    long VolumeBytes,
    long BytesOnWire,
    long Blocks,
    long ZeroBlocks,
    long BlocksFromIndex,
    long BlocksRequestedFromSource,
    long BlocksSent,
    int Rounds,
    long DirtyBlocks,
    double? DowntimeMs,
    bool Verified,
    string? FailedPhase,
    string? FailedState,
    string? Reason,
    bool RollbackIncomplete,
    OperatorPhaseTimings Timings,
    int Version,
    string? DestinationHostId = null,
    string? MemoryStatus = null,
    long MemoryTransferredBytes = 0,
    long MemoryRemainingBytes = 0,
    long MemoryDirtyPagesRate = 0,
    long MemoryExpectedDowntimeMs = 0,
    long MemoryBytes = 0,
    double? QemuDowntimeMs = null,
    double? StorageDowntimeMs = null,
    bool FencedCutover = false,
    bool PostCopy = false)
{
    public static OperatorMigrationView Of(MigrationState m) => new(
        m.CorrelationId, m.VmId, m.VolumeId, m.SourceStorageId, m.DestinationStorageId, m.HostId, m.CurrentState, m.Phase, m.Attempt,
        m.CurrentState is "Succeeded" or "Failed", m.RequestedAt, m.PhaseEnteredAt, m.DeadlineUtc, m.Run.VolumeBytes, m.Run.BytesOnWire, m.Run.Blocks,
        m.Run.ZeroBlocks, m.Run.BlocksFromIndex, m.Run.BlocksRequestedFromSource, m.Run.BlocksSent, m.Run.Rounds, m.Run.DirtyBlocks, m.Run.DowntimeMilliseconds,
        m.Run.Verified, m.Run.FailedPhase, m.Run.FailedState, m.Run.FailureReason, m.Run.RollbackIncomplete, OperatorPhaseTimings.Of(MigrationTimings.Of(m)),
        m.Version, m.DestinationHostId, m.Run.MemoryStatus, m.Run.MemoryTransferredBytes, m.Run.MemoryRemainingBytes, m.Run.MemoryDirtyPagesRate,
        m.Run.MemoryExpectedDowntimeMilliseconds, m.Run.MemoryBytes, m.Run.QemuDowntimeMilliseconds, m.Run.StorageDowntimeMilliseconds,
        m.OptionFencedCutover, m.Run.PostCopy);

    /// <summary>The VM moves with its disk to another host.</summary>
    public bool WholeVm => DestinationHostId is not null;

    /// <summary>Where the migration stands in a few words: what it is doing now, or how it ended.</summary>
    public string Progress => State switch
    {
        "Preparing" => WholeVm ? "destination preparing; source host describing the VM" : "destination preparing",
        "Indexing" => "source streaming the index",
        "Requesting" => $"{Blocks} blocks indexed; destination looking them up",
        "Copying" => Rounds == 0
            ? $"{BlocksFromIndex} blocks from the index; copying {BlocksRequestedFromSource}"
            : $"round {Rounds}: {Operator.Bytes(BytesOnWire)} sent, {DirtyBlocks} dirty",
        "Pausing" => "pausing the VM",
        "Switching" => "VM paused; switching its disk and final sync",
        "Resuming" => "resuming the VM on the destination",
        "CompletingTail" => "VM running on the destination; final round and verification finishing behind it",
        "MigratingMemory" => $"memory: {Operator.Bytes(MemoryTransferredBytes)} sent, {Operator.Bytes(MemoryRemainingBytes)} left, " +
                             $"{MemoryDirtyPagesRate} dirty pages/s, expected downtime {MemoryExpectedDowntimeMs} ms",
        "SyncingDisk" => "source vCPUs stopped; final disk sync and verification",
        "ContinuingMemory" => "disk verified; QEMU finishing the memory migration",
        "StartingOnDestination" => $"starting the VM on host {DestinationHostId}",
        "RollingBackSwitch" => "rolling back: switching the disk back",
        "RollingBackResume" => "rolling back: resuming on the source",
        "Succeeded" when WholeVm => $"VM on host {DestinationHostId}: memory {Operator.Bytes(MemoryBytes)}, disk {Operator.Bytes(BytesOnWire)} of " +
                                    $"{Operator.Bytes(VolumeBytes)} on the wire, downtime {Operator.Millis(DowntimeMs)} " +
                                    $"({Operator.DowntimeSplit(QemuDowntimeMs, StorageDowntimeMs)})",
        "Succeeded" => $"{Operator.Bytes(BytesOnWire)} of {Operator.Bytes(VolumeBytes)} on the wire, downtime {Operator.Millis(DowntimeMs)}",
        "Failed" => $"{(RollbackIncomplete ? "ROLLBACK INCOMPLETE: " : "")}in {FailedPhase}: {Reason}",
        _ => State,
    };
}
