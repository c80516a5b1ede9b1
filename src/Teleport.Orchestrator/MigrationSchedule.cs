using Teleport.Contracts;

namespace Teleport.Orchestrator;

/// <summary>
/// The saga's clock: the deadline and nudge time a state sets on the row, and whether a deadline expiry or a nudge
/// from the sweeper is the one the row waits for. Times are whole milliseconds so that they compare equal after a
/// round trip through any database and the bus.
/// </summary>
public sealed class MigrationSchedule(MigrationSettings settings, TimeProvider clock, MigrationMetrics metrics)
{
    public DateTimeOffset Now() => clock.GetUtcNow();

    /// <summary>What PauseVm carries as its budget (<see cref="MigrationSettings.PauseBudget"/>); null: the host does not bound the pause.</summary>
    public int? PauseBudgetMilliseconds => settings.PauseBudget is { } budget && budget > TimeSpan.Zero ? (int)Math.Ceiling(budget.TotalMilliseconds) : null;

    /// <summary>Entering a state sets its phase, deadline and nudge time (none when <paramref name="nudgedState"/> is null).</summary>
    public void Enter(MigrationState saga, string phase, TimeSpan? timeout, string? nudgedState)
    {
        // The cut-over spans three states; its phase starts with the first.
        if (saga.Phase != phase)
        {
            saga.PhaseEnteredAt = Now();
        }

        saga.Phase = phase;
        saga.NudgeAtUtc = NextNudge(saga, nudgedState);
        saga.DeadlineUtc = timeout is { } t ? TruncateToMilliseconds(Now().UtcDateTime + t) : null;
    }

    /// <summary>Progress in a transfer state: the nudge waits a whole interval from now.</summary>
    public void Progressed(MigrationState saga) => saga.NudgeAtUtc = NextNudge(saga, saga.CurrentState);

    /// <summary>A nudge the state acts on: counted, and the next one a whole interval later (until progress or the deadline).</summary>
    public void Renudge(MigrationState saga)
    {
        saga.Run.Nudges++;
        saga.NudgeAtUtc = NextNudge(saga, saga.CurrentState);
        metrics.Nudged(saga.CurrentState);
    }

    /// <summary>
    /// Only the nudge for this state, attempt and nudge time counts: a late one, a duplicate from another sweeper, or
    /// one for a state the saga has left does nothing.
    /// </summary>
    public bool IsDue(MigrationState saga, MigrationNudged nudged) =>
        saga.NudgeAtUtc is { } nudgeAt
        && string.Equals(nudged.State, saga.CurrentState, StringComparison.Ordinal)
        && nudged.Attempt == saga.Attempt
        && nudged.NudgeAt.UtcDateTime == nudgeAt
        && Now().UtcDateTime >= nudgeAt;

    /// <summary>Only the expiry of this state's deadline counts, once it has really passed.</summary>
    public bool IsDue(MigrationState saga, MigrationDeadlineExpired expired) =>
        saga.DeadlineUtc is { } deadline
        && string.Equals(expired.State, saga.CurrentState, StringComparison.Ordinal)
        && expired.Deadline.UtcDateTime == deadline
        && Now().UtcDateTime >= deadline;

    /// <summary>A Failed row re-sends its unconfirmed aborts for a while after the failure, then gives up.</summary>
    public bool MayResendAborts(MigrationState saga) =>
        saga.Run.FailedAt is { } failedAt && Now() - failedAt < settings.AbortResendWindow;

    private DateTime? NextNudge(MigrationState saga, string? state)
    {
        if (state is null || settings.NudgeIntervalOf(state) is not { } interval)
            return null;
        var next = TruncateToMilliseconds(Now().UtcDateTime + interval);
        // A fenced storage-only copy is also nudged when its copy-time budget passes (DowntimeController.PostCopyDue).
        if (state == "Copying" && saga.OptionFencedCutover && !saga.WholeVm && saga.PhaseEnteredAt is { } copying)
        {
            // Rounded up: the nudge must not come a fraction of a millisecond before the budget has passed.
            var budget = TruncateToMilliseconds((copying + settings.PostCopyAfter).UtcDateTime).AddMilliseconds(1);
            if (budget > Now().UtcDateTime && budget < next)
                return budget;
        }

        return next;
    }

    private static DateTime TruncateToMilliseconds(DateTime value) =>
        new(value.Ticks - value.Ticks % TimeSpan.TicksPerMillisecond, DateTimeKind.Utc);
}
