using System.Diagnostics;
using Teleport.Transfer.Protocol;

namespace Teleport.Transfer;

/// <summary>
/// What a destination session counted over all its connections and source sessions: wire bytes, how the index was
/// resolved, blocks received, rounds. Touched only by the connection holding the session's gate.
/// </summary>
internal sealed class DestinationStatistics
{
    private readonly Stopwatch _clock = new();

    public long ClosedConnectionBytes { get; set; }

    public long IndexBytes { get; set; }

    public long DataBytes { get; set; }

    public long ZeroBlocks { get; set; }

    public long FromIndex { get; set; }

    public long FromVolume { get; set; }

    /// <summary>Blocks buddies provided (verified), and their bytes pulled over the LAN.</summary>
    public long FromBuddies { get; set; }

    public long BuddyBytes { get; set; }

    /// <summary>Blocks buddies sent that did not match their fingerprints (asked from the source instead).</summary>
    public long BuddyRejected { get; set; }

    public long BlocksReceived { get; set; }

    public long RequestedTotal { get; set; }

    public int Rounds { get; set; }

    public int Connections { get; set; }

    /// <summary>An authenticated connection is served: the clock runs from the first one.</summary>
    public void ConnectionStarted()
    {
        Connections++;
        _clock.Start();
    }

    public IndexReport IndexReport(long blocks) =>
        new(blocks, ZeroBlocks, FromIndex, FromVolume, RequestedTotal, IndexBytes) { FromBuddies = FromBuddies };

    public TransferResult Result(in VolumeGeometry geometry, DestinationState? state, long currentConnectionBytes) =>
        new(
            BytesOnWire: ClosedConnectionBytes + currentConnectionBytes,
            IndexBytes: IndexBytes,
            DataBytes: DataBytes,
            Blocks: geometry.BlockCount,
            ZeroBlocks: ZeroBlocks,
            BlocksFromIndex: FromIndex,
            BlocksFromVolume: FromVolume,
            BlocksSent: BlocksReceived,
            Rounds: Rounds,
            Seconds: _clock.Elapsed.TotalSeconds,
            Verified: state?.Phase == DestinationPhase.Completed,
            Reconnects: Math.Max(0, Connections - 1),
            VolumeDigest: state?.Digest ?? [])
        {
            BlocksFromBuddies = FromBuddies,
            BuddyBytes = BuddyBytes,
            BuddyBlocksRejected = BuddyRejected,
        };
}
