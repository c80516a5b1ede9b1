using Microsoft.Extensions.Logging;

namespace Teleport.Orchestrator;

/// <summary>What the downtime controller does once the source reported its dirty set small.</summary>
public enum CutOverDecision
{
    /// <summary>The predicted pause fits MaxDowntime (or it cannot, and waiting no longer helps: the migration is not strict).</summary>
    Pause,

    /// <summary>Keep copying: the next round may bring the dirty set down far enough.</summary>
    Wait,

    /// <summary>Strict: the pause cannot fit MaxDowntime and waiting no longer helps, so the migration fails before any pause.</summary>
    Fail,

    /// <summary>
    /// A fenced migration whose pause cannot fit and whose pre-copy no longer converges: pause now with the whole dirty set
    /// fenced; the VM resumes on the destination and the rest streams behind it (instead of pausing long or failing).
    /// </summary>
    PostCopy,
}

/// <summary>
/// Decides a storage-only move's pause from its prediction (<see cref="DowntimePredictor"/>): pause when the prediction
/// fits the migration's MaxDowntime (default 100 ms); otherwise keep copying while waiting may help — the part that does
/// not depend on the dirty set fits and fewer than <see cref="MigrationSettings.DowntimeWaitRounds"/> rounds were waited —
/// and re-decide on every round; then pause anyway, or fail a migration that asked for a strict MaxDowntime. A fenced
/// migration goes post-copy instead, and stops waiting as soon as its rounds stop converging (<see cref="NotConverging"/>).
/// </summary>
public sealed partial class DowntimeController(MigrationSettings settings, TimeProvider clock, ILogger logger)
{
    public const int DefaultMaxDowntimeMilliseconds = 100;

    /// <summary>Predicts the pause from the row's figures, records the prediction and decides.</summary>
    public CutOverDecision Decide(MigrationState saga)
    {
        var prediction = DowntimePredictor.Predict(saga.Run.Figures, settings.Downtime, saga.LocalCutOver);
        double max = saga.OptionMaxDowntimeMilliseconds ?? DefaultMaxDowntimeMilliseconds;
        saga.Run.PredictedDowntimeMilliseconds = double.IsFinite(prediction.TotalMilliseconds) ? Math.Round(prediction.TotalMilliseconds, 1) : null;
        bool fenced = saga.OptionFencedCutover && !saga.WholeVm;
        bool fixedFits = prediction.FixedMilliseconds <= max;
        // Pre-copy has given up converging: no threshold yet (the rounds stalled), the wait rounds are spent, or they stalled.
        bool givenUp = !saga.Run.ThresholdSeen || saga.Run.DowntimeWaitRounds >= settings.DowntimeWaitRounds || (fenced && NotConverging(saga));
        CutOverDecision decision;
        // Past its budget before any round ended, the dirty set is unknown: no prediction can say the pause fits.
        if (fenced && saga.Run.Rounds == 0 && PostCopyDue(saga))
            decision = CutOverDecision.PostCopy;
        else if (prediction.TotalMilliseconds <= max)
            decision = CutOverDecision.Pause;
        else if (fixedFits && !givenUp)
            decision = CutOverDecision.Wait;
        else if (saga.OptionStrictMaxDowntime && !(fenced && fixedFits))
            decision = CutOverDecision.Fail;
        else // a fenced pause does not carry the dirty set: it streams behind the resumed VM
            decision = fenced && givenUp && prediction.TransferMilliseconds > 0 ? CutOverDecision.PostCopy : CutOverDecision.Pause;
        if (decision == CutOverDecision.Wait)
            saga.Run.DowntimeWaitRounds++;
        saga.Run.Decision = decision;
        saga.Run.PostCopy = decision == CutOverDecision.PostCopy;
        Decided(logger, saga.CorrelationId, prediction.TotalMilliseconds, prediction.FixedMilliseconds, prediction.TransferMilliseconds, max,
            saga.Run.DirtyBlocks, saga.Run.RoundTripMilliseconds ?? 0, decision);
        return decision;
    }

    /// <summary>
    /// A fenced storage-only move still copying whose rounds stopped converging: the last <see cref="MigrationSettings.PostCopyAfterRounds"/>
    /// rounds did not bring the dirty set below its smallest so far, or the copy has run past <see cref="MigrationSettings.PostCopyAfter"/>.
    /// Checked on every round, also before the source's threshold (the controller then decides at once), and at the nudge
    /// the schedule times for the budget (<see cref="MigrationSchedule"/>): a round that never ends cannot hold it off.
    /// </summary>
    public bool PostCopyDue(MigrationState saga) =>
        saga.OptionFencedCutover && !saga.WholeVm && saga.CurrentState == "Copying" && NotConverging(saga);

    private bool NotConverging(MigrationState saga)
    {
        // The budget on the saga's own clock from entering Copying (a guest outpacing the link keeps the first round from
        // ever ending), or by the source's round reports.
        if (saga.CurrentState == "Copying" && saga.PhaseEnteredAt is { } copying && clock.GetUtcNow() - copying >= settings.PostCopyAfter)
            return true;
        var rounds = saga.Run.RoundPoints();
        if (rounds.Count < 2)
            return false;
        if (rounds[^1].At - rounds[0].At >= settings.PostCopyAfter)
            return true;
        int best = 0;
        for (int i = 1; i < rounds.Count; i++)
        {
            if (rounds[i].DirtyBlocks < rounds[best].DirtyBlocks)
                best = i;
        }

        return rounds.Count - 1 - best >= settings.PostCopyAfterRounds;
    }

    /// <summary>Why a strict migration failed (kept as its failure reason).</summary>
    public static string FailureReason(MigrationState saga) =>
        $"the predicted downtime of {saga.Run.PredictedDowntimeMilliseconds?.ToString("0.#", System.Globalization.CultureInfo.InvariantCulture) ?? "(unknown)"} ms " +
        $"does not fit MaxDowntime {saga.OptionMaxDowntimeMilliseconds ?? DefaultMaxDowntimeMilliseconds} ms and waiting " +
        $"{saga.Run.DowntimeWaitRounds} round(s) did not bring it down (StrictMaxDowntime)";

    [LoggerMessage(EventId = 4301, Level = LogLevel.Information, Message = "Migration {MigrationId}: predicted downtime {PredictedMs:0.#} ms " +
        "(fixed {FixedMs:0.#} ms, final round {TransferMs:0.#} ms) against MaxDowntime {MaxMs:0} ms with {Dirty} dirty blocks and a {RoundTripMs:0.#} ms round trip: {Decision}")]
    private static partial void Decided(ILogger logger, Guid migrationId, double predictedMs, double fixedMs, double transferMs, double maxMs, long dirty,
        double roundTripMs, CutOverDecision decision);
}
