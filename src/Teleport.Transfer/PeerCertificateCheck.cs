using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Teleport.Transfer;

/// <summary>
/// Whether a peer's TLS certificate is acceptable: in mutual mode it must chain to one of the configured authorities
/// (and no other root), be valid now, allow the peer's role (server or client authentication, when it lists any) and
/// carry the expected name as its subject CN; in pinned mode its SHA-256 must equal the pin.
/// </summary>
public static class PeerCertificateCheck
{
    private static readonly Oid ServerAuth = new("1.3.6.1.5.5.7.3.1");
    private static readonly Oid ClientAuth = new("1.3.6.1.5.5.7.3.2");
    private const string CommonNameOid = "2.5.4.3";

    /// <summary>Null when acceptable, else why not (for our own log and exception: the peer only sees the TLS alert).</summary>
    public static string? Problem(TransferTls tls, X509Certificate? certificate, X509Chain? presented, bool peerIsServer)
    {
        if (certificate is null)
            return "the peer presented no certificate";
        if (!tls.Mutual)
        {
            return tls.PinnedPeerSha256 is not { } pin || CryptographicOperations.FixedTimeEquals(TransferTls.Sha256Of(certificate), pin)
                ? null
                : "certificate pin mismatch: the peer's certificate is not the pinned one";
        }

        using var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(tls.TrustedAuthorities!);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(peerIsServer ? ServerAuth : ClientAuth);
        if (presented is not null)
        {
            // Intermediates the peer sent; they still have to lead to a configured authority.
            foreach (var element in presented.ChainElements)
                chain.ChainPolicy.ExtraStore.Add(element.Certificate);
        }

        if (!chain.Build(leaf))
        {
            string status = string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).Distinct());
            return $"the peer's certificate '{leaf.Subject}' is not accepted by the configured CA ({status})";
        }

        string[] names = CommonNames(leaf);
        return names is [var name] && string.Equals(name, tls.PeerName, StringComparison.Ordinal)
            ? null
            : $"the peer's certificate names '{string.Join("', '", names)}' in its subject CN, not the expected storage '{tls.PeerName}'";
    }

    // Every CN of the subject: exactly one is accepted, so a certificate cannot carry two identities.
    private static string[] CommonNames(X509Certificate2 certificate) =>
        [.. certificate.SubjectName.EnumerateRelativeDistinguishedNames()
            .Where(rdn => !rdn.HasMultipleElements && rdn.GetSingleElementType().Value == CommonNameOid)
            .Select(rdn => rdn.GetSingleElementValue() ?? "")];
}
