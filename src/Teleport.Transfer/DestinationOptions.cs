using System.Net;
using Teleport.Blocks;

namespace Teleport.Transfer;

/// <summary>Where a <see cref="DestinationSession"/> listens and builds the volume.</summary>
public sealed record DestinationOptions : TransferSessionOptions
{
    /// <summary>Durable progress file; defaults to the volume path plus ".teleport-state".</summary>
    public string? StatePath { get; init; }

    public IPEndPoint Listen { get; init; } = new(IPAddress.Any, 0);

    /// <summary>When set, a source announcing a volume of another size is refused (the session fails).</summary>
    public long? ExpectedVolumeBytes { get; init; }

    /// <summary>Local content index to rebuild blocks from (optional). Received blocks are added to it.</summary>
    public BlockIndex? Index { get; init; }

    /// <summary>Storage workers of this site whose indexes are asked for what <see cref="Index"/> lacks, before the source (optional).</summary>
    public Buddies.BuddyOptions? Buddies { get; init; }

    /// <summary>Verify by re-reading and hashing the whole volume instead of the fingerprints of what was written
    /// (stronger, but costs a full read during the cut-over).</summary>
    public bool VerifyByReading { get; init; }

    /// <summary>Block bytes written between checkpoints (flush, state file, acknowledgement).</summary>
    public long CheckpointBytes { get; init; } = 64L << 20;

    /// <summary>
    /// Bytes an authenticated connection reads ahead of the session's handling (16 MiB: 1.3 s at 100 Mbit/s), so the
    /// link keeps flowing while the destination resolves an index batch from its local index. 0 reads only on demand.
    /// </summary>
    public int ReadAheadBytes { get; init; } = 16 << 20;

    public TimeSpan CheckpointInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>A new connection must authenticate within this time.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Connections still authenticating at once; further ones are closed as soon as they are accepted.</summary>
    public int MaxHandshakes { get; init; } = 32;

    /// <summary>Connections still authenticating at once from one peer address.</summary>
    public int MaxHandshakesPerPeer { get; init; } = 8;

    /// <summary>After completion, how long to wait for the source's goodbye (to re-deliver a lost Complete).</summary>
    public TimeSpan CompletionLinger { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Fenced early resume: when the source announces its final round (Fence), this fence is armed with those blocks and
    /// every block still missing, <see cref="ITransferObserver.OnFenced"/> says the volume may be served (through a
    /// fencing export over the same fence), and the tail never overwrites a block the guest wrote.
    /// </summary>
    public BlockFence? Fence { get; init; }

    internal string EffectiveStatePath => StatePath ?? VolumePath + ".teleport-state";

    /// <summary>Fault injection for tests: called after each block write with its offset and length (a failing disk).</summary>
    internal Action<long, int>? AfterBlockWrite { get; init; }

    /// <summary>Test seam: called after each flush of the volume.</summary>
    internal Action? AfterFlush { get; init; }
}
