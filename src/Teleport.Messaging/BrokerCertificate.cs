using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using MassTransit;

namespace Teleport.Messaging;

/// <summary>
/// Verification of the broker's TLS certificate: it must name the host the address names, and chain either to the
/// system's trusted roots or, given a CA file, to that CA alone (a private CA is then the only one trusted).
/// </summary>
public static class BrokerCertificate
{
    /// <summary>Sets TLS 1.2+ with <paramref name="host"/> as the expected name and the verification below.</summary>
    public static void Configure(IRabbitMqSslConfigurator ssl, string host, string? caFile)
    {
        ssl.ServerName = host;
        ssl.Protocol = SslProtocols.Tls12 | SslProtocols.Tls13;
        var roots = caFile is null ? null : LoadCa(caFile);
        ssl.CertificateValidationCallback = (_, certificate, _, errors) => IsTrusted(certificate, errors, roots);
    }

    /// <summary>
    /// True when the certificate names the host and chains to <paramref name="roots"/> (or, when null, when the
    /// platform found no fault at all).
    /// </summary>
    public static bool IsTrusted(X509Certificate? certificate, SslPolicyErrors errors, X509Certificate2Collection? roots)
    {
        if (certificate is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable) ||
            errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch))
            return false;
        if (roots is null)
            return errors == SslPolicyErrors.None;
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        using var leaf = new X509Certificate2(certificate);
        return chain.Build(leaf);
    }

    /// <summary>The certificates of a PEM file; at least one, or an error naming the file.</summary>
    internal static X509Certificate2Collection LoadCa(string caFile)
    {
        var roots = new X509Certificate2Collection();
        roots.ImportFromPemFile(caFile);
        if (roots.Count == 0)
            throw new ArgumentException($"the CA file '{caFile}' holds no PEM certificate");
        return roots;
    }
}
