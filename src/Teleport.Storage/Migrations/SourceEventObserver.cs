using Teleport.Contracts;
using Teleport.Transfer;

namespace Teleport.Storage.Migrations;

/// <summary>Turns a source session's progress into the saga's events: IndexStreamed, CopyRoundCompleted, DirtyBelowThreshold.</summary>
internal sealed class SourceEventObserver(
    Guid migrationId, int attempt, long volumeBytes, long thresholdBlocks, int maxRounds, OrderedPublisher events, Action<TransferPhase> phaseChanged)
    : ITransferObserver
{
    private int _round;
    private long _dirty;
    private volatile TransferPhase _phase = TransferPhase.Connecting;

    public TransferPhase Phase => _phase;

    public void OnPhase(TransferPhase phase)
    {
        bool changed = _phase != phase;
        _phase = phase;
        if (changed)
            phaseChanged(phase);
        if (phase == TransferPhase.Converged)
        {
            int round = Volatile.Read(ref _round);
            long dirty = Volatile.Read(ref _dirty);
            events.Post(new DirtyBelowThreshold(migrationId, round, dirty, round >= maxRounds && dirty > thresholdBlocks, DateTimeOffset.UtcNow, attempt));
        }
    }

    // The source learns the index totals when the destination's request list arrives, so IndexStreamed carries them.
    public void OnIndexResolved(IndexReport report) =>
        events.Post(new IndexStreamed(migrationId, volumeBytes, report.Blocks, report.ZeroBlocks, report.IndexBytes, DateTimeOffset.UtcNow, attempt));

    public void OnRound(RoundReport report)
    {
        Volatile.Write(ref _round, report.Round);
        Volatile.Write(ref _dirty, report.DirtyAfter);
        events.Post(new CopyRoundCompleted(migrationId, report.Round, report.BlocksSent, report.WireBytes, report.DirtyAfter,
            report.BytesPerSecond, DateTimeOffset.UtcNow, attempt));
    }
}
