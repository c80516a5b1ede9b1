using System.Net;

namespace Teleport.Transfer.Buddies;

/// <summary>A storage worker of the same site whose index a destination consults: its storage id and buddy endpoint.</summary>
public sealed record BuddyPeer(string Id, EndPoint EndPoint);

/// <summary>
/// The buddies a destination asks for blocks its own index lacks, before it asks the source across the WAN. Only
/// these endpoints are contacted (configuration, never a message), each over mutual TLS: the buddy's certificate must
/// chain to <see cref="TransferTls.TrustedAuthorities"/> and carry the buddy's id as its CN.
/// </summary>
public sealed record BuddyOptions
{
    /// <summary>Asked in this order; a block the first lacks is asked from the next.</summary>
    public IReadOnlyList<BuddyPeer> Peers { get; init; } = [];

    /// <summary>Our certificate (with its key) and the CA a buddy's certificate must chain to; PeerName is set per buddy.</summary>
    public required TransferTls Tls { get; init; }

    /// <summary>Most time one lookup may take on one buddy, connecting and TLS included: a buddy down or slow costs at most this.</summary>
    public TimeSpan LookupTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>After a failed lookup the buddy is left alone this long (the migration does not pay its timeout per batch).</summary>
    public TimeSpan RetryAfter { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Throws <see cref="ArgumentException"/> naming what is missing.</summary>
    public void Validate()
    {
        if (Tls.Certificate is not { HasPrivateKey: true } || Tls.TrustedAuthorities is not { Count: > 0 })
            throw new ArgumentException("buddies need mutual TLS: our certificate with its key and the CA buddies are issued by");
        if (LookupTimeout <= TimeSpan.Zero || RetryAfter < TimeSpan.Zero)
            throw new ArgumentException("the buddy lookup timeout must be positive and the retry delay not negative");
        foreach (var peer in Peers)
        {
            if (string.IsNullOrEmpty(peer.Id))
                throw new ArgumentException($"the buddy at {peer.EndPoint} has no id (the CN its certificate must carry)");
        }
    }
}
