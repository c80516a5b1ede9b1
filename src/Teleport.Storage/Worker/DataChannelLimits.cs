namespace Teleport.Storage.Worker;

/// <summary>
/// How long and how many strangers the data channel tolerates before they authenticate ("Storage:DataChannel:...").
/// Each incoming migration's listener applies them; the handshake timeout bounds an outgoing migration's connect too.
/// </summary>
public sealed class DataChannelLimits
{
    private static readonly TimeSpan LongestHandshake = TimeSpan.FromHours(1);

    /// <summary>Connecting, TLS and authentication must finish within this time, on either side.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Connections still authenticating at once per incoming migration; further ones are closed when accepted.</summary>
    public int MaxHandshakes { get; set; } = 32;

    /// <summary>Of those, from one peer address.</summary>
    public int MaxHandshakesPerPeer { get; set; } = 8;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad setting.</summary>
    public void Validate()
    {
        if (HandshakeTimeout <= TimeSpan.Zero || HandshakeTimeout > LongestHandshake)
            throw new ArgumentException($"Storage:DataChannel:HandshakeTimeout {HandshakeTimeout} must be more than zero and at most {LongestHandshake}");
        if (MaxHandshakes < 1)
            throw new ArgumentException($"Storage:DataChannel:MaxHandshakes {MaxHandshakes} must be at least 1");
        if (MaxHandshakesPerPeer < 1 || MaxHandshakesPerPeer > MaxHandshakes)
            throw new ArgumentException($"Storage:DataChannel:MaxHandshakesPerPeer {MaxHandshakesPerPeer} must be 1..MaxHandshakes ({MaxHandshakes})");
    }
}
