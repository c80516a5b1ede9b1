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
    // Enough for the bandwidth-delay product of 100 Mbit/s at 80 ms, and no more: it is also a queue a post-copy page
    // fault waits behind (4 MiB doubled the storm benchmark's stall after the switch, docs/performance.md).
    public const int DefaultRetainBytes = 1 << 20;

    public int RetainBytes { get; init; } = DefaultRetainBytes;

    public TimeSpan Heartbeat { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Silence for this long (no frame, not even a heartbeat) ends a link: a cut cable closes no socket.</summary>
    public TimeSpan LinkTimeout { get; init; } = TimeSpan.FromSeconds(5);

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
