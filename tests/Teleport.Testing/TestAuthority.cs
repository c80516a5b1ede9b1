using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Teleport.Testing;

/// <summary>
/// A throw-away certificate authority made in process (no openssl): issues leaf certificates whose subject CN is a storage id (usable as
/// TLS server and client), and writes them in the layout QEMU's tls-creds-x509 directory uses.
/// </summary>
public sealed class TestAuthority : IDisposable
{
    private static readonly Oid ServerAuth = new("1.3.6.1.5.5.7.3.1");
    private static readonly Oid ClientAuth = new("1.3.6.1.5.5.7.3.2");

    private readonly ECDsa _caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);

    public TestAuthority(string name = "Teleport test CA")
    {
        var request = new CertificateRequest($"CN={name}", _caKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var now = DateTimeOffset.UtcNow;
        Authority = request.CreateSelfSigned(now.AddDays(-1), now.AddYears(1));
    }

    /// <summary>The CA certificate (with its key).</summary>
    public X509Certificate2 Authority { get; }

    /// <summary>The CA as a trust collection.</summary>
    public X509Certificate2Collection Trust => [X509CertificateLoader.LoadCertificate(Authority.RawData)];

    /// <summary>A leaf certificate with its private key, subject CN=<paramref name="commonName"/>, for server and client use.</summary>
    public X509Certificate2 Issue(string commonName) => WithKey(commonName, out _);

    /// <summary>
    /// Writes ca-cert.pem, server-cert.pem and server-key.pem (the leaf for <paramref name="commonName"/>) into
    /// <paramref name="directory"/>, created if missing; returns the directory.
    /// </summary>
    public string WriteDirectory(string directory, string commonName)
    {
        Directory.CreateDirectory(directory);
        using var leaf = WithKey(commonName, out string keyPem);
        File.WriteAllText(Path.Combine(directory, "ca-cert.pem"), Authority.ExportCertificatePem());
        File.WriteAllText(Path.Combine(directory, "server-cert.pem"), leaf.ExportCertificatePem());
        File.WriteAllText(Path.Combine(directory, "server-key.pem"), keyPem);
        return directory;
    }

    private X509Certificate2 WithKey(string commonName, out string keyPem)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={commonName}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([ServerAuth, ClientAuth], false));
        var now = DateTimeOffset.UtcNow;
        byte[] serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f;
        using var issued = request.Create(Authority, now.AddDays(-1), now.AddMonths(6), serial);
        using var withKey = issued.CopyWithPrivateKey(key);
        keyPem = key.ExportPkcs8PrivateKeyPem();
        // Re-imported so SslStream can use the key on every platform.
        return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), password: null);
    }

    public void Dispose()
    {
        Authority.Dispose();
        _caKey.Dispose();
    }
}
