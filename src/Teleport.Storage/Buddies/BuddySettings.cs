using System.Net;
using Teleport.Storage.Migrations;
using Teleport.Storage.Security;
using Teleport.Transfer;
using Teleport.Transfer.Buddies;

namespace Teleport.Storage.Buddies;

/// <summary>
/// Buddies: storage workers of one site that look blocks up in each other's indexes before a destination asks the
/// source across the WAN ("Storage:Buddies:Listen", "Storage:Buddies:Peers:ID", ...). Buddies are mutual: this worker
/// asks the workers in <see cref="Peers"/> and answers only them, over mutual TLS with the data channel's CA and
/// certificates (Storage:DataTlsDirectory), each identified by its storage id as the certificate's CN.
/// </summary>
public sealed class BuddySettings
{
    /// <summary>Where this worker answers its buddies' lookups from its index (ADDR:PORT); null or empty: it does not.</summary>
    public string? Listen { get; set; }

    /// <summary>Buddy storage id → HOST:PORT of its <see cref="Listen"/>. Only these endpoints are ever contacted.</summary>
    public Dictionary<string, string> Peers { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Most time one lookup may take on one buddy (connecting and TLS included).</summary>
    public TimeSpan LookupTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How long a buddy that failed a lookup is left alone.</summary>
    public TimeSpan RetryAfter { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Connections the buddy server holds at once (buddies hold one per incoming migration).</summary>
    public int MaxConnections { get; set; } = 64;

    public bool Enabled => Peers.Count > 0;

    public IPEndPoint ListenEndPoint => IPEndPoint.TryParse(Listen ?? "", out var ep) && Listen!.Contains(':')
        ? ep
        : throw new ArgumentException($"Storage:Buddies:Listen '{Listen}' is not ADDR:PORT (e.g. 0.0.0.0:10810)");

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad setting.</summary>
    public void Validate(Worker.StorageWorkerOptions worker)
    {
        if (!Enabled && Listen is not { Length: > 0 })
            return;
        if (!Enabled)
            throw new ArgumentException("Storage:Buddies:Listen is set but Storage:Buddies:Peers is empty: name the buddies allowed to ask");
        if (worker.DataTlsDirectory is not { Length: > 0 })
            throw new ArgumentException("Storage:Buddies needs Storage:DataTlsDirectory: buddies authenticate each other by mutual TLS with the data channel's CA");
        if (Listen is { Length: > 0 })
        {
            _ = ListenEndPoint;
            if (worker.IndexDirectory is not { Length: > 0 })
                throw new ArgumentException("Storage:Buddies:Listen needs Storage:IndexDirectory: a buddy answers from its index");
        }

        foreach (var (id, address) in Peers)
        {
            if (id == worker.StorageId)
                throw new ArgumentException($"Storage:Buddies:Peers:{id} is this worker itself");
            try
            {
                _ = DataChannelAddress.ParseEndPoint(address);
            }
            catch (ArgumentException)
            {
                throw new ArgumentException($"Storage:Buddies:Peers:{id} '{address}' is not HOST:PORT");
            }
        }

        if (LookupTimeout <= TimeSpan.Zero || RetryAfter < TimeSpan.Zero || MaxConnections < 1)
            throw new ArgumentException("Storage:Buddies:LookupTimeout and MaxConnections must be positive, RetryAfter not negative");
    }

    /// <summary>What an incoming migration asks its buddies with; null without buddies or mutual TLS.</summary>
    public BuddyOptions? ForDestination(DataChannelIdentity? identity) => !Enabled || identity is null
        ? null
        : new BuddyOptions
        {
            Peers = [.. Peers.Select(p => new BuddyPeer(p.Key, DataChannelAddress.ParseEndPoint(p.Value)))],
            Tls = new TransferTls { Certificate = identity.Client, TrustedAuthorities = identity.Authorities },
            LookupTimeout = LookupTimeout,
            RetryAfter = RetryAfter,
        };

    /// <summary>The server answering the buddies from <paramref name="index"/>; null when this worker does not listen.</summary>
    public BuddyServerOptions? ForServer(DataChannelIdentity? identity, Blocks.BlockIndex? index) =>
        Listen is not { Length: > 0 } || identity is null || index is null
            ? null
            : new BuddyServerOptions
            {
                Listen = ListenEndPoint,
                Index = index,
                Tls = new TransferTls { Certificate = identity.Server, TrustedAuthorities = identity.Authorities },
                Buddies = [.. Peers.Keys],
                MaxConnections = MaxConnections,
                MaxConnectionsPerPeer = MaxConnections,
            };
}
