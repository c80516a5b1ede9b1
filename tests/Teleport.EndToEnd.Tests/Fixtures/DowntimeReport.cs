using Teleport.Contracts;

namespace Teleport.EndToEnd.Tests.Fixtures;

/// <summary>
/// A migration's downtime from the events' own timestamps (all processes share this machine's clock): from the
/// moment the host sent QEMU 'stop' (VmPaused.PausedAt) to the moment QEMU confirmed 'cont' (VmResumed.ResumedAt),
/// with where the time went.
/// </summary>
public sealed record DowntimeReport(
    double TotalMs,
    double PauseToSwitchedMs,
    double PauseToSyncedMs,
    double ResumeAfterReadyMs,
    double PausedEventHopMs,
    double SagaDowntimeMs,
    int Rounds,
    long DirtyBlocksAtThreshold)
{
    public static DowntimeReport From(EventWatch watch, Guid id)
    {
        var events = watch.Of(id);
        var paused = events.First(e => e.Message is VmPaused);
        var pausedAt = ((VmPaused)paused.Message).PausedAt;
        var switchedAt = events.Select(e => e.Message).OfType<TargetSwitched>().First().SwitchedAt;
        var completedAt = events.Select(e => e.Message).OfType<MigrationCompleted>().First().CompletedAt;
        var resumedAt = events.Select(e => e.Message).OfType<VmResumed>().First().ResumedAt;
        var succeeded = events.Select(e => e.Message).OfType<MigrationSucceeded>().First();
        var threshold = events.Select(e => e.Message).OfType<DirtyBelowThreshold>().LastOrDefault();
        var ready = switchedAt > completedAt ? switchedAt : completedAt;
        return new DowntimeReport(
            (resumedAt - pausedAt).TotalMilliseconds,
            (switchedAt - pausedAt).TotalMilliseconds,
            (completedAt - pausedAt).TotalMilliseconds,
            (resumedAt - ready).TotalMilliseconds,
            (paused.ReceivedAt - pausedAt).TotalMilliseconds,
            succeeded.DowntimeMilliseconds,
            succeeded.Rounds,
            threshold?.DirtyBlocks ?? -1);
    }

    public override string ToString() =>
        $"downtime {TotalMs:0.0} ms (saga: {SagaDowntimeMs:0.0} ms): switched at +{PauseToSwitchedMs:0.0} ms, destination verified at +{PauseToSyncedMs:0.0} ms, " +
        $"resumed {ResumeAfterReadyMs:0.0} ms after both; VmPaused reached the bus watcher at +{PausedEventHopMs:0.0} ms; {Rounds} rounds, {DirtyBlocksAtThreshold} dirty blocks at the threshold";
}
