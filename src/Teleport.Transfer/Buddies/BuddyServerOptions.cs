using System.Net;
using Teleport.Blocks;

namespace Teleport.Transfer.Buddies;

/// <summary>What a storage worker's <see cref="BuddyServer"/> serves, to whom, and its limits.</summary>
public sealed record BuddyServerOptions
{
    public IPEndPoint Listen { get; init; } = new(IPAddress.Any, 0);

    /// <summary>The index lookups are answered from (its block size is the only one served).</summary>
    public required BlockIndex Index { get; init; }

    /// <summary>Our certificate (with its key) and the CA a buddy's certificate must chain to.</summary>
    public required TransferTls Tls { get; init; }

    /// <summary>Storage ids allowed to ask (a client certificate's CN must be one of them).</summary>
    public required IReadOnlyCollection<string> Buddies { get; init; }

    /// <summary>TLS and the BuddyHello must be done within this time.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>A connection with no lookup for this long is closed.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>Open connections at once, in all and from one address; further ones are closed as soon as accepted.</summary>
    public int MaxConnections { get; init; } = 64;

    public int MaxConnectionsPerPeer { get; init; } = 16;

    /// <summary>Fault injection for tests: may change each found block before it is sent (a buddy that lies).</summary>
    internal Action<Memory<byte>>? TamperBlock { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> naming what is missing.</summary>
    public void Validate()
    {
        if (Tls.Certificate is not { HasPrivateKey: true } || Tls.TrustedAuthorities is not { Count: > 0 })
            throw new ArgumentException("the buddy server needs mutual TLS: our certificate with its key and the CA buddies are issued by");
        if (Buddies.Count == 0)
            throw new ArgumentException("the buddy server needs the storage ids of its buddies");
        if (HandshakeTimeout <= TimeSpan.Zero || IdleTimeout <= TimeSpan.Zero || MaxConnections < 1 || MaxConnectionsPerPeer < 1)
            throw new ArgumentException("buddy server timeouts and connection caps must be positive");
    }
}
