namespace Teleport.Orchestrator;

/// <summary>What the downtime controller of a storage-only move measured and decided (null / zero before the first round).</summary>
public sealed partial class MigrationAttempt
{
    /// <summary>The data channel's round trip the source reported with its last round.</summary>
    public double? RoundTripMilliseconds { get; set; }

    /// <summary>How fast the guest dirtied blocks during the last round (its dirty blocks over the time since the round before).</summary>
    public double DirtyBlocksPerSecond { get; set; }

    /// <summary>The pause the controller predicted when it decided to pause (or the last prediction it waited on).</summary>
    public double? PredictedDowntimeMilliseconds { get; set; }

    /// <summary>Rounds the controller waited past the source's threshold for a prediction that fits.</summary>
    public int DowntimeWaitRounds { get; set; }

    /// <summary>The cut-over was taken as a post-copy: fenced, with a dirty set whose final round would not fit MaxDowntime.</summary>
    public bool PostCopy { get; set; }

    /// <summary>The controller's last decision, for the step that follows it (not stored).</summary>
    internal CutOverDecision Decision { get; set; }

    /// <summary>The figures the controller predicts from.</summary>
    public CopyFigures Figures => new(DirtyBlocks, DirtyBlocksPerSecond, BlocksSent > 0 ? (double)BytesOnWire / BlocksSent : 0,
        LastBytesPerSecond, RoundTripMilliseconds ?? 0);

    private void RecordRates(Contracts.CopyRoundCompleted round)
    {
        if (LastRoundAt is { } previous && round.CompletedAt > previous)
            DirtyBlocksPerSecond = round.DirtyBlocksRemaining / (round.CompletedAt - previous).TotalSeconds;
        if (round.RoundTripMilliseconds is { } roundTrip)
            RoundTripMilliseconds = roundTrip;
    }
}
