using MassTransit;
using Teleport.Contracts;

namespace Teleport.Orchestrator;

/// <summary>
/// One migration saga row: the request, where the saga stands (state, phase, deadline, next nudge) and, in
/// <see cref="Run"/>, what the current attempt learned (timings, figures, the failure). Timestamps are UTC.
/// </summary>
public class MigrationState : SagaStateMachineInstance
{
    /// <summary>The MigrationId.</summary>
    public Guid CorrelationId { get; set; }

    /// <summary>Name of the saga's current state.</summary>
    public string CurrentState { get; set; } = "";

    /// <summary>Optimistic-concurrency token: incremented on every save, checked by every update.</summary>
    public int Version { get; set; }

    /// <summary>Operator-level phase (<see cref="MigrationPhases"/>) of the current state.</summary>
    public string Phase { get; set; } = "";

    /// <summary>1 for the first run, incremented by every RetryMigration.</summary>
    public int Attempt { get; set; }

    // What commands are built from.
    public string VmId { get; set; } = "";
    public string VolumeId { get; set; } = "";
    public string SourceStorageId { get; set; } = "";
    public string DestinationStorageId { get; set; } = "";
    public string HostId { get; set; } = "";

    /// <summary>The host a whole-VM move starts the VM on; null for a storage-only move.</summary>
    public string? DestinationHostId { get; set; }

    /// <summary>The VM moves with its disk (memory, vCPUs, devices): the request named a destination host.</summary>
    public bool WholeVm => DestinationHostId is not null;

    // MigrationOptions, flattened so they are plain columns.
    public int? OptionBlockSize { get; set; }
    public long? OptionBandwidthBytesPerSecond { get; set; }
    public long? OptionDirtyThresholdBlocks { get; set; }
    public int? OptionMaxCopyRounds { get; set; }
    public int? OptionCompressionLevel { get; set; }
    public bool OptionUseIndex { get; set; } = true;
    public bool? OptionMemoryMultifd { get; set; }
    public int? OptionMemoryMultifdChannels { get; set; }
    public int? OptionMemoryDowntimeLimitMilliseconds { get; set; }
    public bool? OptionMemoryPostCopy { get; set; }
    public int? OptionMemoryPostCopyAfterRounds { get; set; }
    public int? OptionMemoryPostCopyAfterSeconds { get; set; }
    public int? OptionMaxDowntimeMilliseconds { get; set; }
    public bool OptionStrictMaxDowntime { get; set; }

    /// <summary>Storage-only moves: resume on the destination before verification (fenced early resume; docs/saga.md).</summary>
    public bool OptionFencedCutover { get; set; }

    /// <summary>A fenced storage-only cut-over: the host pauses, has the source sync, switches and resumes by itself (docs/saga.md).</summary>
    public bool LocalCutOver => OptionFencedCutover && !WholeVm;

    /// <summary>The volume size the request named: both storage workers refuse another (null: the source's actual size is taken).</summary>
    public long? OptionVolumeBytes { get; set; }

    // The deadline of the current state, swept by DeadlineSweeper (null: nothing is awaited).
    public DateTime? DeadlineUtc { get; set; }

    /// <summary>
    /// When the sweeper nudges the saga to re-send what the current state still waits on, unless progress comes first
    /// (null: nothing to re-send). Set on entering a state, moved on by progress events and by every nudge.
    /// </summary>
    public DateTime? NudgeAtUtc { get; set; }

    /// <summary>When the current phase began (orchestrator clock).</summary>
    public DateTimeOffset? PhaseEnteredAt { get; set; }

    /// <summary>When the migration was requested (the requester's clock).</summary>
    public DateTimeOffset? RequestedAt { get; set; }

    /// <summary>What the current attempt learned and decided; a retry starts a new one (<see cref="MigrationAttempt"/>).</summary>
    public MigrationAttempt Run { get; set; } = new();

    /// <summary>Takes the request: the ids and options every command is built from; the first attempt.</summary>
    public void Accept(MigrationRequested request)
    {
        (VmId, VolumeId, HostId) = (request.VmId ?? "", request.VolumeId ?? "", request.HostId ?? "");
        (SourceStorageId, DestinationStorageId) = (request.SourceStorageId ?? "", request.DestinationStorageId ?? "");
        var options = request.Options ?? new MigrationOptions();
        (OptionBlockSize, OptionBandwidthBytesPerSecond, OptionDirtyThresholdBlocks) = (options.BlockSize, options.BandwidthBytesPerSecond, options.DirtyThresholdBlocks);
        (OptionMaxCopyRounds, OptionCompressionLevel, OptionUseIndex) = (options.MaxCopyRounds, options.CompressionLevel, options.UseIndex);
        (RequestedAt, Attempt, DestinationHostId) = (request.RequestedAt, 1, request.DestinationHostId);
        var memory = options.Memory ?? new MemoryMigrationOptions();
        (OptionMemoryMultifd, OptionMemoryMultifdChannels, OptionMemoryDowntimeLimitMilliseconds) = (memory.Multifd, memory.MultifdChannels, memory.DowntimeLimitMilliseconds);
        (OptionMemoryPostCopy, OptionMemoryPostCopyAfterRounds, OptionMemoryPostCopyAfterSeconds) = (memory.PostCopy, memory.PostCopyAfterRounds, memory.PostCopyAfterSeconds);
        (OptionMaxDowntimeMilliseconds, OptionStrictMaxDowntime, OptionVolumeBytes) = (options.MaxDowntimeMilliseconds, options.StrictMaxDowntime, options.VolumeBytes);
        OptionFencedCutover = options.FencedCutover;
    }

    /// <summary>A retry starts over with the same MigrationId and request, as the next attempt, from a new attempt record.</summary>
    public void StartNextAttempt()
    {
        Attempt++;
        Run = new MigrationAttempt();
    }

    /// <summary>A rollback begins: the reason, and the phase and state it began in, are kept for operators and replay.</summary>
    public void BeginFailure(string reason, DateTimeOffset now)
    {
        Run.FailureReason = reason;
        Run.FailedPhase = string.IsNullOrEmpty(Phase) ? MigrationPhases.Prepare : Phase;
        Run.FailedState = string.IsNullOrEmpty(CurrentState) || CurrentState == "Initial" ? "Initial" : CurrentState;
        Run.RollbackStartedAt = now;
    }

    /// <summary>The options as the contracts carry them.</summary>
    public MigrationOptions Options => new(
        OptionBlockSize, OptionBandwidthBytesPerSecond, OptionDirtyThresholdBlocks, OptionMaxCopyRounds, OptionCompressionLevel, OptionUseIndex,
        WholeVm ? MemoryOptions : null, VolumeBytes: OptionVolumeBytes, MaxDowntimeMilliseconds: OptionMaxDowntimeMilliseconds,
        StrictMaxDowntime: OptionStrictMaxDowntime, FencedCutover: OptionFencedCutover);

    /// <summary>How QEMU migrates the memory of a whole-VM move.</summary>
    public MemoryMigrationOptions MemoryOptions => new(OptionMemoryMultifd, OptionMemoryMultifdChannels, OptionMemoryDowntimeLimitMilliseconds,
        OptionMemoryPostCopy, OptionMemoryPostCopyAfterRounds, OptionMemoryPostCopyAfterSeconds);
}
