using Teleport.Contracts;

namespace Teleport.Orchestrator;

/// <summary>
/// Everything one attempt of a migration learns and decides, from its PrepareDestination to its end: the destination's
/// endpoints, a timestamp per step, the figures, the progress flags, what rollback must undo and the failure.
/// A retry replaces it with a new one, so nothing of a failed attempt (a new field included) carries into the next.
/// Mapped as an EF Core complex type onto the columns of the migrations table (same names). Timestamps are UTC.
/// </summary>
public sealed partial class MigrationAttempt
{
    // What the destination announced in DestinationPrepared; StartTransfer and SwitchTarget are built from it.
    public string? DataEndpoint { get; set; }
    public string? Secret { get; set; }
    public string? CertificateSha256 { get; set; }

    /// <summary>Where the VM's disk is served after the cut-over: SwitchTarget sends the host there.</summary>
    public string? NbdEndpoint { get; set; }

    /// <summary>The destination's NBD export name of the volume.</summary>
    public string? ExportName { get; set; }

    /// <summary>Nudges that re-sent commands in this attempt (each one means a command or its answer was missing for a nudge interval).</summary>
    public int Nudges { get; set; }

    // A timestamp per step (MigrationTimings turns them into durations).
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

    /// <summary>The destination's DestinationPrepared is in: the source can be started.</summary>
    public bool DestinationReady => DataEndpoint is not null;

    /// <summary>An AbortTransfer this attempt sent is still unconfirmed.</summary>
    public bool AbortsPending =>
        (SourceAbortRequested && SourceAbortedAt is null) || (DestinationAbortRequested && DestinationAbortedAt is null) || DiscardPending;

    public void Record(DestinationPrepared prepared)
    {
        (DataEndpoint, Secret, CertificateSha256) = (prepared.DataEndpoint, prepared.Secret, prepared.CertificateSha256);
        (NbdEndpoint, ExportName) = (prepared.NbdEndpoint, prepared.ExportName);
        PreparedAt = prepared.PreparedAt;
    }

    public void Record(IndexStreamed streamed)
    {
        IndexStreamedSeen = true;
        IndexStreamedAt = streamed.StreamedAt;
        (VolumeBytes, Blocks, ZeroBlocks, IndexBytes) = (streamed.VolumeBytes, streamed.Blocks, streamed.ZeroBlocks, streamed.IndexBytes);
    }

    public void Record(BlocksRequested requested)
    {
        BlocksRequestedSeen = true;
        BlocksRequestedAt = requested.RequestedAt;
        (BlocksFromIndex, BlocksRequestedFromSource) = (requested.BlocksFromIndex, requested.BlocksRequestedFromSource);
    }

    // Rounds count up from 1; the figures of a round are added once (a repeated or older round is filtered out before).
    public void Record(CopyRoundCompleted round)
    {
        RecordRates(round);
        Rounds = round.Round;
        BlocksSent += round.BlocksSent;
        BytesOnWire += round.BytesOnWire;
        (LastBytesPerSecond, DirtyBlocks, LastRoundAt) = (round.BytesPerSecond, round.DirtyBlocksRemaining, round.CompletedAt);
        AppendRound(round);
    }

    public void Record(DirtyBelowThreshold threshold)
    {
        ThresholdSeen = true;
        DirtyBelowThresholdAt = threshold.ReachedAt;
        if (threshold.RoundTripMilliseconds is { } roundTrip)
            RoundTripMilliseconds = roundTrip;
        Rounds = Math.Max(Rounds, threshold.Rounds);
        (DirtyBlocks, RoundCapReached) = (threshold.DirtyBlocks, threshold.RoundCapReached);
    }

    public void Record(TargetSwitched switched)
    {
        SwitchConfirmed = true;
        SwitchedAt = switched.SwitchedAt;
    }

    // The destination's totals are authoritative: they replace the running sums of the rounds.
    public void Record(MigrationCompleted completed)
    {
        DestinationVerified = Verified = completed.Verified;
        CompletedAt = completed.CompletedAt;
        (VolumeBytes, BytesOnWire, BlocksFromIndex) = (completed.VolumeBytes, completed.BytesOnWire, completed.BlocksFromIndex);
        (BlocksSent, Rounds) = (completed.BlocksSent, completed.Rounds);
    }

    public void RecordSucceeded(VmResumed resumed, DateTimeOffset now)
    {
        RecordResumed(resumed);
        RecordSucceeded(now);
    }

    /// <summary>The VM runs on the destination; the downtime is over (a fenced cut-over's tail may still be running).</summary>
    public void RecordResumed(VmResumed resumed)
    {
        ResumedAt = resumed.ResumedAt;
        DowntimeMilliseconds = PausedAt is { } paused ? Math.Max(0, (resumed.ResumedAt - paused).TotalMilliseconds) : null;
    }

    public void RecordSucceeded(DateTimeOffset now)
    {
        SucceededAt = now;
        Secret = null; // the data channel is done: the row keeps no copy of its secret
    }

    /// <summary>Records a side's TransferAborted; the storage ids say which side it is.</summary>
    public void RecordAborted(TransferAborted aborted, string sourceStorageId, string destinationStorageId)
    {
        if (aborted.StorageId == sourceStorageId)
        {
            SourceAbortedAt = aborted.AbortedAt;
        }
        else if (aborted.StorageId == destinationStorageId)
        {
            DestinationAbortedAt = aborted.AbortedAt;
        }
    }
}
