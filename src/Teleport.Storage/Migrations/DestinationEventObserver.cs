using Teleport.Contracts;
using Teleport.Transfer;

namespace Teleport.Storage.Migrations;

/// <summary>
/// Turns a destination session's progress into BlocksRequested, remembers its phase for failure reports, and hands an
/// armed fence (a fenced cut-over) to <paramref name="fenced"/>, which serves the volume.
/// </summary>
internal sealed class DestinationEventObserver(
    Guid migrationId, int attempt, OrderedPublisher events, Action<TransferPhase> phaseChanged, ResolutionTotals? totals = null,
    Action<long>? fenced = null) : ITransferObserver
{
    private volatile TransferPhase _phase = TransferPhase.Connecting;
    private int _resolved;

    public TransferPhase Phase => _phase;

    public void OnPhase(TransferPhase phase)
    {
        if (_phase == phase)
            return;
        _phase = phase;
        phaseChanged(phase);
    }

    public void OnIndexResolved(IndexReport report)
    {
        // A reconnecting source gets the request list again; the saga needs the figures once.
        if (Interlocked.Exchange(ref _resolved, 1) != 0)
            return;
        totals?.Add(report);
        // Blocks from buddies came from this site, not the source: they count with the index's.
        events.Post(new BlocksRequested(migrationId, report.FromIndex + report.FromVolume + report.FromBuddies, report.Requested, DateTimeOffset.UtcNow, attempt));
    }

    public void OnFenced(long fencedBlocks) => fenced?.Invoke(fencedBlocks);
}
