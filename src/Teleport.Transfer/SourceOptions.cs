using System.Net;
using Teleport.Blocks;

namespace Teleport.Transfer;

/// <summary>How a <see cref="SourceSession"/> reaches the destination and paces the migration.</summary>
public sealed record SourceOptions : TransferSessionOptions
{
    /// <summary>The destination's data-channel endpoint (ignored when <see cref="Connect"/> is set).</summary>
    public EndPoint? Destination { get; init; }

    /// <summary>Opens a raw connection to the destination; replaces <see cref="Destination"/> (tests, proxies).</summary>
    public Func<CancellationToken, ValueTask<Stream>>? Connect { get; init; }

    public int BlockSize { get; init; } = BlockSizes.Default;

    /// <summary>
    /// zstd level for block data: 0 off, 1 .. 22, negative levels faster still. Null (the default) adapts: it starts
    /// from <see cref="Bandwidth"/> and moves so compression never holds up the link (docs/protocol.md).
    /// </summary>
    public int? CompressionLevel { get; init; }

    /// <summary>Largest zstd window (log2 bytes, 20..27) of the data stream; the default 27 (128 MiB, capped at the volume
    /// size) lets content repeating far apart in the volume compress. Each side holds one window per connection.</summary>
    public int MaxCompressionWindowLog { get; init; } = 27;

    /// <summary>Cap on bytes put on the wire (index and data). Unlimited by default.</summary>
    public ByteRate Bandwidth { get; init; } = ByteRate.Unlimited;

    /// <summary>Copy rounds stop (the migration is ready for cut-over) once this few blocks are dirty.</summary>
    public long DirtyThresholdBlocks { get; init; } = 256;

    /// <summary>Copy rounds before declaring convergence even if the dirty set stays above the threshold.</summary>
    public int MaxRounds { get; init; } = 30;

    /// <summary>Start the final round by itself once converged (for volumes nobody writes, e.g. `teleport send`).</summary>
    public bool AutoCutover { get; init; }

    /// <summary>
    /// Fenced early resume: the final round starts with the list of blocks it will send (Fence, FenceEnd), so the
    /// destination can serve the volume at once and fence just those (docs/protocol.md, "Fenced early resume").
    /// </summary>
    public bool FencedCutover { get; init; }

    /// <summary>Pause between rounds after convergence while waiting for <see cref="SourceSession.BeginCutover"/>.</summary>
    public TimeSpan IdleRoundInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Connecting, TLS and authentication must finish within this time, or the attempt counts as a failed connection.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Consecutive failed reconnects before the session gives up.</summary>
    public int MaxReconnectAttempts { get; init; } = 20;

    public TimeSpan ReconnectDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Raw block bytes sent but not yet acknowledged (flushed) by the destination before sending pauses.</summary>
    public long MaxUnackedBytes { get; init; } = 256L << 20;

    /// <summary>
    /// How long the destination may stay silent while a reply is due (acknowledgements of data in flight, the request
    /// list, the final verification) before the connection is treated as lost and re-established. Raise it above the
    /// destination's full-volume verification time when it uses VerifyByReading.
    /// </summary>
    public TimeSpan ResponseTimeout { get; init; } = TimeSpan.FromMinutes(2);
}
