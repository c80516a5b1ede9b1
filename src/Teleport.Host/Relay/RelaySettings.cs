using Microsoft.Extensions.Logging;
using Teleport.Nbd.Tls;

namespace Teleport.Host.Relay;

/// <summary>
/// How one VM's memory relay behaves: how long a broken link may stay broken before the relay gives up (closing its
/// QEMU sockets), how many unacknowledged bytes each channel holds for a resend, how often an idle link proves it is
/// alive and how long silence means it is dead; mutual TLS when <see cref="Tls"/> is set (plain TCP otherwise).
/// </summary>
internal sealed record RelaySettings(string VmId, TimeSpan RecoveryWindow, NbdTlsCredentials? Tls, ILogger Log)
{
    /// <summary>
    /// What a channel retains when nothing better is known (the destination's return path: page requests, a few bytes).
    /// Also a queue a post-copy page fault waits behind: 4 MiB on the source doubled the storm benchmark's stall after
    /// the switch (docs/performance.md), so the source's is sized to its bandwidth cap instead (<see cref="RetainBytesFor"/>).
    /// </summary>
    public const int DefaultRetainBytes = 1 << 20;

    /// <summary>Connections one incoming relay lets handshake at once, in all and from one address (a VM has a few channels).</summary>
    public const int MaxHandshakes = 64;

    public const int MaxHandshakesPerPeer = 16;

    private const int MinRetainBytes = 256 << 10;
    private const int MaxRetainBytes = 64 << 20;
    private const int UncappedRetainBytes = 16 << 20;

    public int RetainBytes { get; init; } = DefaultRetainBytes;

    /// <summary>
    /// The source's retention for a move capped at <paramref name="bandwidthBytesPerSecond"/>: a quarter second of the
    /// cap, which covers its bandwidth-delay product up to a 250 ms round trip and is at most a quarter second of queue
    /// for a faulted page when the link carries the cap. Uncapped, 16 MiB: 1 Gbit/s over a 130 ms round trip.
    /// </summary>
    public static int RetainBytesFor(long? bandwidthBytesPerSecond) => bandwidthBytesPerSecond is > 0 and var cap
        ? (int)Math.Clamp(cap / 4, MinRetainBytes, MaxRetainBytes)
        : UncappedRetainBytes;

    public TimeSpan Heartbeat { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Silence for this long (no frame, not even a heartbeat) ends a link: a cut cable closes no socket.</summary>
    public TimeSpan LinkTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long the destination still answers a resume of a delivered channel (and keeps listening once all have
    /// ended): the link may break between its last ack and the source, which then resumes only to learn it is done.
    /// </summary>
    public TimeSpan FinishedGrace { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>A connection's TLS handshake and hello must be done within this (nothing is held for a slow stranger).</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);
}

/// <summary>One WAN connection of a channel, ready for frames: its stream and how many bytes the peer had received.</summary>
internal sealed record RelayLink(Stream Stream, long PeerReceived);

/// <summary>The destination refused a relay connection (its answer's status), or the relay gave up on a channel.</summary>
internal sealed class RelayRefusedException(byte status, string message) : IOException(message)
{
    public byte Status { get; } = status;
}
