using System.Net;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Teleport.Contracts;
using Teleport.Storage.Migrations;
using Teleport.Storage.Worker;
using Teleport.Transfer;

namespace Teleport.Storage.Security;

/// <summary>
/// How this worker's data channel is secured, one of three modes (docs/security.md, "Data channel"):
/// mutual TLS with the operator's CA (Storage:DataTlsDirectory: no secret or pin on the bus, known peers only);
/// pinned (the default: a self-signed certificate pinned through the bus, plus a per-migration secret on the bus);
/// plain (Storage:DataChannelTls false: the secret only). Decides what each side of a migration uses and publishes.
/// </summary>
public sealed class DataChannelSecurity : IDisposable
{
    private const int SecretBytes = 32;

    public DataChannelSecurity(DataChannelIdentity? mutual, DataChannelCertificate? pinned, KnownPeers peers)
    {
        Mutual = mutual;
        Pinned = mutual is null ? pinned : null;
        Peers = peers;
    }

    /// <summary>The mutual-TLS credentials (null in the other modes).</summary>
    public DataChannelIdentity? Mutual { get; }

    /// <summary>The pinned mode's certificate (null in the other modes).</summary>
    public DataChannelCertificate? Pinned { get; }

    public KnownPeers Peers { get; }

    /// <summary>For logs: "mutual", "pinned SHA256" or "off".</summary>
    public string Describe => Mutual is not null ? $"mutual (CA in {Mutual.Directory})" : Pinned is not null ? $"pinned {Pinned.Sha256Hex}" : "off";

    public static DataChannelSecurity Load(StorageWorkerOptions options, ILogger log)
    {
        var mutual = options.DataTlsDirectory is { Length: > 0 } dir ? DataChannelIdentity.Load(dir, options.StorageId) : null;
        var pinned = mutual is null && options.DataChannelTls ? DataChannelCertificate.Load(options, log) : null;
        var peers = new KnownPeers(options.Peers, required: mutual is not null);
        if (!peers.Required)
            log.LogWarning("No Storage:Peers and no Storage:DataTlsDirectory: volumes go to whatever data endpoint a StartTransfer names (single-machine default, docs/security.md)");
        return new DataChannelSecurity(mutual, pinned, peers);
    }

    /// <summary>The secret an incoming migration's source must prove (empty with mutual TLS: the certificates do it).</summary>
    public byte[] NewSecret() => Mutual is null ? RandomNumberGenerator.GetBytes(SecretBytes) : [];

    /// <summary>TLS of an incoming migration from <paramref name="sourceStorageId"/>.</summary>
    public TransferTls? ForDestination(string sourceStorageId) =>
        Mutual?.ForDestination(sourceStorageId) ?? (Pinned is null ? null : new TransferTls { Certificate = Pinned.Certificate });

    /// <summary>What DestinationPrepared carries: in mutual mode neither the secret nor a pin crosses the bus.</summary>
    public (string? Secret, string? Pin) Published(byte[] secret) =>
        Mutual is null ? (Convert.ToBase64String(secret), Pinned?.Sha256Hex) : (null, null);

    /// <summary>How to reach and authenticate a StartTransfer's destination; <see cref="ArgumentException"/> or <see cref="FormatException"/> when it may not be sent to.</summary>
    public (EndPoint Destination, TransferTls? Tls, byte[] Secret) ForSource(StartTransfer command)
    {
        var destination = Peers.Resolve(command.DestinationStorageId, command.DataEndpoint);
        if (Mutual is not null)
            return (destination, Mutual.ForSource(command.DestinationStorageId), []);
        if (string.IsNullOrEmpty(command.Secret))
            throw new ArgumentException("StartTransfer carries no secret, and this worker has no CA for mutual TLS (Storage:DataTlsDirectory)");
        var tls = command.CertificateSha256 is { } pin ? new TransferTls { PinnedPeerSha256 = DataChannelAddress.ParsePin(pin) } : null;
        return (destination, tls, Convert.FromBase64String(command.Secret));
    }

    public void Dispose()
    {
        Mutual?.Dispose();
        Pinned?.Dispose();
    }
}
