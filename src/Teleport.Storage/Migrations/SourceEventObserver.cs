using Teleport.Contracts;
using Teleport.Transfer;

namespace Teleport.Storage.Migrations;

/// <summary>
/// Turns a source session's progress into the saga's events: IndexStreamed, CopyRoundCompleted, DirtyBelowThreshold.
/// Keeps the latest of each (and the destination's BlocksRequested, whose figures come back with its requests), so a
/// duplicate StartTransfer is answered with the progress already made instead of a second transfer.
/// </summary>
internal sealed class SourceEventObserver(
    Guid migrationId, int attempt, long volumeBytes, long thresholdBlocks, int maxRounds, OrderedPublisher events, Action<TransferPhase> phaseChanged)
    : ITransferObserver
{
    private readonly Lock _latestLock = new();
    private int _round;
    private long _dirty;
    private volatile TransferPhase _phase = TransferPhase.Connecting;
    private IndexStreamed? _indexStreamed;
    private BlocksRequested? _blocksRequested;
    private CopyRoundCompleted? _lastRound;
    private DirtyBelowThreshold? _threshold;

    public TransferPhase Phase => _phase;

    /// <summary>The latest progress events of this attempt, in the order the saga expects them.</summary>
    public IReadOnlyList<object> Progress()
    {
        lock (_latestLock)
            return new object?[] { _indexStreamed, _blocksRequested, _lastRound, _threshold }.OfType<object>().ToArray();
    }

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
            DirtyBelowThreshold threshold;
            lock (_latestLock)
            {
                // The round's own CopyRoundCompleted may reach the saga after this event: the controller needs its round trip now.
                threshold = new DirtyBelowThreshold(migrationId, round, dirty, round >= maxRounds && dirty > thresholdBlocks, DateTimeOffset.UtcNow, attempt,
                    _lastRound?.RoundTripMilliseconds);
                _threshold = threshold;
            }

            events.Post(threshold);
        }
    }

    // The source learns the index totals when the destination's request list arrives, so IndexStreamed carries them.
    // BlocksRequested is the destination's event; the source only keeps the same figures for a duplicate StartTransfer.
    public void OnIndexResolved(IndexReport report)
    {
        var now = DateTimeOffset.UtcNow;
        var streamed = new IndexStreamed(migrationId, volumeBytes, report.Blocks, report.ZeroBlocks, report.IndexBytes, now, attempt);
        lock (_latestLock)
        {
            _indexStreamed = streamed;
            _blocksRequested ??= new BlocksRequested(migrationId, report.FromIndex + report.FromVolume, report.Requested, now, attempt);
        }

        events.Post(streamed);
    }

    public void OnRound(RoundReport report)
    {
        Volatile.Write(ref _round, report.Round);
        Volatile.Write(ref _dirty, report.DirtyAfter);
        var round = new CopyRoundCompleted(migrationId, report.Round, report.BlocksSent, report.WireBytes, report.DirtyAfter,
            report.BytesPerSecond, DateTimeOffset.UtcNow, attempt, report.RoundTripSeconds * 1000);
        lock (_latestLock)
            _lastRound = round;
        events.Post(round);
    }
}
