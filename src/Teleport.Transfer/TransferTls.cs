using System.Security.Cryptography.X509Certificates;

namespace Teleport.Transfer;

/// <summary>
/// Optional TLS for the data channel. The destination (TLS server) needs <see cref="Certificate"/>; the source pins the
/// destination's certificate by the SHA-256 of its DER bytes (<see cref="PinnedPeerSha256"/>): no CA is consulted.
/// If the destination sets <see cref="PinnedPeerSha256"/>, the source must present <see cref="Certificate"/> as a client
/// certificate with that hash. Authentication by the migration secret happens inside TLS either way.
/// </summary>
public sealed record TransferTls
{
    /// <summary>Our certificate (with private key): required on the destination, optional on the source.</summary>
    public X509Certificate2? Certificate { get; init; }

    /// <summary>SHA-256 of the peer certificate's DER encoding: required on the source, optional on the destination.</summary>
    public byte[]? PinnedPeerSha256 { get; init; }

    /// <summary>Name the source uses for SNI; the certificate's name is not checked (the pin is).</summary>
    public string TargetHost { get; init; } = "teleport";

    /// <summary>SHA-256 of a certificate's DER bytes, the value to pin.</summary>
    public static byte[] Sha256Of(X509Certificate certificate) =>
        certificate.GetCertHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
}
