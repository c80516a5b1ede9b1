using System.Security.Cryptography.X509Certificates;

namespace Teleport.Transfer;

/// <summary>
/// Optional TLS for the data channel, in one of two modes.
/// Pinned: the destination (TLS server) needs <see cref="Certificate"/>; the source pins it by the SHA-256 of its DER
/// bytes (<see cref="PinnedPeerSha256"/>), no CA is consulted, and the migration secret authenticates both ends inside TLS.
/// Mutual (<see cref="TrustedAuthorities"/> set on both ends): each end presents <see cref="Certificate"/>, and accepts
/// only a peer certificate issued by one of the authorities whose subject CN is <see cref="PeerName"/>; TLS alone
/// authenticates both ends, so no secret is needed (docs/security.md, "Data channel").
/// </summary>
public sealed record TransferTls
{
    /// <summary>Our certificate (with private key): required on the destination and, in mutual mode, on the source.</summary>
    public X509Certificate2? Certificate { get; init; }

    /// <summary>SHA-256 of the peer certificate's DER encoding: required on the source in pinned mode, optional on the destination.</summary>
    public byte[]? PinnedPeerSha256 { get; init; }

    /// <summary>Mutual mode: the CA certificates a peer's certificate must chain to (no other root is trusted).</summary>
    public X509Certificate2Collection? TrustedAuthorities { get; init; }

    /// <summary>Mutual mode: the subject CN the peer's certificate must carry (the peer's storage id).</summary>
    public string? PeerName { get; init; }

    /// <summary>Name the source uses for SNI; the certificate's name is checked against <see cref="PeerName"/> (mutual) or not at all (pinned).</summary>
    public string TargetHost { get; init; } = "teleport";

    /// <summary>Both ends are authenticated by certificates from <see cref="TrustedAuthorities"/>.</summary>
    public bool Mutual => TrustedAuthorities is not null;

    /// <summary>SHA-256 of a certificate's DER bytes, the value to pin.</summary>
    public static byte[] Sha256Of(X509Certificate certificate) =>
        certificate.GetCertHash(System.Security.Cryptography.HashAlgorithmName.SHA256);

    /// <summary>Throws <see cref="ArgumentException"/> when the mutual mode is half configured.</summary>
    internal void ValidateMutual()
    {
        if (!Mutual)
            return;
        if (TrustedAuthorities!.Count == 0)
            throw new ArgumentException("TLS TrustedAuthorities is empty: give the CA certificate(s) peers are issued by");
        if (string.IsNullOrEmpty(PeerName))
            throw new ArgumentException("mutual TLS needs PeerName: the storage id the peer's certificate must carry");
        if (Certificate is not { HasPrivateKey: true })
            throw new ArgumentException("mutual TLS needs our own Certificate with its private key");
    }
}
