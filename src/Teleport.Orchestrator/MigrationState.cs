using MassTransit;
using Teleport.Contracts;

namespace Teleport.Orchestrator;

/// <summary>
/// One migration saga row: what the orchestrator needs to send the next command and what operators ask about
/// (state, phase, timings, figures, the failure). Timestamps are UTC.
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
    public string? DataEndpoint { get; set; }
    public string? Secret { get; set; }
    public string? CertificateSha256 { get; set; }

    /// <summary>Where the VM's disk is served after the cut-over (DestinationPrepared): SwitchTarget sends the host there.</summary>
    public string? NbdEndpoint { get; set; }

    /// <summary>The destination's NBD export name of the volume.</summary>
    public string? ExportName { get; set; }

    // MigrationOptions, flattened so they are plain columns.
    public int? OptionBlockSize { get; set; }
    public long? OptionBandwidthBytesPerSecond { get; set; }
    public long? OptionDirtyThresholdBlocks { get; set; }
    public int? OptionMaxCopyRounds { get; set; }
    public int? OptionCompressionLevel { get; set; }
    public bool OptionUseIndex { get; set; } = true;

    // The deadline of the current state, swept by DeadlineSweeper (null: nothing is awaited).
    public DateTime? DeadlineUtc { get; set; }

    /// <summary>
    /// When the sweeper nudges the saga to re-send what the current state still waits on, unless progress comes first
    /// (null: nothing to re-send). Set on entering a state, moved on by progress events and by every nudge.
    /// </summary>
    public DateTime? NudgeAtUtc { get; set; }

    /// <summary>Nudges that re-sent commands in this attempt (each one means a command or its answer was missing for a nudge interval).</summary>
    public int Nudges { get; set; }

    // Timings per phase (MigrationTimings turns them into durations).

    /// <summary>When the current phase began (orchestrator clock).</summary>
    public DateTimeOffset? PhaseEnteredAt { get; set; }

    public DateTimeOffset? RequestedAt { get; set; }
    public DateTimeOffset? PrepareSentAt { get; set; }
    public DateTimeOffset? PreparedAt { get; set; }
    public DateTimeOffset? IndexStreamedAt { get; set; }
    public DateTimeOffset? BlocksRequestedAt { get; set; }
    public DateTimeOffset? LastRoundAt { get; set; }
    public DateTimeOffset? DirtyBelowThresholdAt { get; set; }
    public DateTimeOffset? PauseSentAt { get; set; }
    public DateTimeOffset? PausedAt { get; set; }
    public DateTimeOffset? SwitchedAt { get; set; }
    public DateTimeOffset? CompletedAt { get; set; }
    public DateTimeOffset? ResumedAt { get; set; }
    public DateTimeOffset? SucceededAt { get; set; }
    public DateTimeOffset? RollbackStartedAt { get; set; }
    public DateTimeOffset? SwitchedBackAt { get; set; }
    public DateTimeOffset? ResumedOnSourceAt { get; set; }
    public DateTimeOffset? FailedAt { get; set; }
    public DateTimeOffset? SourceAbortedAt { get; set; }
    public DateTimeOffset? DestinationAbortedAt { get; set; }

    // Figures.
    public long VolumeBytes { get; set; }
    public long Blocks { get; set; }
    public long ZeroBlocks { get; set; }
    public long IndexBytes { get; set; }
    public long BlocksFromIndex { get; set; }
    public long BlocksRequestedFromSource { get; set; }
    public int Rounds { get; set; }
    public long BlocksSent { get; set; }
    public long BytesOnWire { get; set; }
    public double LastBytesPerSecond { get; set; }
    public long DirtyBlocks { get; set; }
    public bool RoundCapReached { get; set; }
    public bool Verified { get; set; }
    public double? DowntimeMilliseconds { get; set; }

    // Progress flags: events of one phase may arrive in any order.
    public bool IndexStreamedSeen { get; set; }
    public bool BlocksRequestedSeen { get; set; }
    public bool ThresholdSeen { get; set; }
    public bool SwitchConfirmed { get; set; }
    public bool DestinationVerified { get; set; }

    // What rollback must undo: set when the command is sent, since it may take effect without an answer.
    public bool PauseRequested { get; set; }
    public bool SwitchRequested { get; set; }

    // AbortTransfer sent to each side (a Failed row re-sends it until TransferAborted arrives).
    public bool SourceAbortRequested { get; set; }
    public bool DestinationAbortRequested { get; set; }

    // The failure, kept for operators and for replay.
    public string? FailureReason { get; set; }
    public string? FailedPhase { get; set; }
    public string? FailedState { get; set; }

    /// <summary>Rollback could not confirm the VM is back on the source: the destination was left alone for an operator.</summary>
    public bool RollbackIncomplete { get; set; }

    /// <summary>The options as the contracts carry them.</summary>
    public MigrationOptions Options => new(
        OptionBlockSize, OptionBandwidthBytesPerSecond, OptionDirtyThresholdBlocks, OptionMaxCopyRounds, OptionCompressionLevel, OptionUseIndex);
}
