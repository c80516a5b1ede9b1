using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Teleport.Blocks;
using Teleport.Storage.Worker;
using Teleport.Transfer;

namespace Teleport.Storage.Security;

/// <summary>
/// The certificate the destination side serves its data channel with: the configured one (PKCS#12, or PEM
/// certificate + key), else a self-signed one generated on first start and kept in the state directory so its pin
/// stays the same across restarts. Sources pin it by <see cref="Sha256Hex"/> (DestinationPrepared.CertificateSha256).
/// </summary>
public sealed class DataChannelCertificate : IDisposable
{
    public const string GeneratedFileName = "data-channel.pfx";

    private DataChannelCertificate(X509Certificate2 certificate, string source)
    {
        Certificate = certificate;
        Source = source;
        Sha256Hex = Convert.ToHexStringLower(TransferTls.Sha256Of(certificate));
    }

    public X509Certificate2 Certificate { get; }

    /// <summary>Lower-case hex SHA-256 of the certificate's DER bytes: the pin.</summary>
    public string Sha256Hex { get; }

    /// <summary>Where it came from (a path), for logs.</summary>
    public string Source { get; }

    public static DataChannelCertificate Load(StorageWorkerOptions options, ILogger log)
    {
        if (options.TlsCertificate is { } path)
        {
            if (!File.Exists(path))
                throw new ArgumentException($"Storage:TlsCertificate '{path}' does not exist");
            X509Certificate2 configured;
            try
            {
                configured = options.TlsKey is { } key
                    ? FromPem(path, key)
                    : X509CertificateLoader.LoadPkcs12FromFile(path, options.TlsCertificatePassword);
            }
            catch (CryptographicException e)
            {
                throw new ArgumentException($"Storage:TlsCertificate '{path}' cannot be loaded: {e.Message}", e);
            }

            if (!configured.HasPrivateKey)
            {
                configured.Dispose();
                throw new ArgumentException($"Storage:TlsCertificate '{path}' has no private key (give a PKCS#12 with its key, or Storage:TlsKey)");
            }

            return new DataChannelCertificate(configured, path);
        }

        string generated = Path.Combine(options.EffectiveStateDirectory, GeneratedFileName);
        if (File.Exists(generated))
        {
            try
            {
                return new DataChannelCertificate(X509CertificateLoader.LoadPkcs12FromFile(generated, password: null), generated);
            }
            catch (CryptographicException e)
            {
                // A damaged file is replaced: the pin travels in every DestinationPrepared, nobody stores it.
                log.LogWarning("The data-channel certificate {Path} cannot be loaded ({Reason}); generating a new one", generated, e.Message);
            }
        }

        Directory.CreateDirectory(options.EffectiveStateDirectory);
        byte[] pfx = CreateSelfSigned(options.StorageId);
        // Created 0600: the private key is never readable by others, not even between create and chmod.
        DurableFile.Replace(generated, pfx, DurableFile.OwnerOnly);
        log.LogInformation("Generated a self-signed data-channel certificate in {Path}", generated);
        return new DataChannelCertificate(X509CertificateLoader.LoadPkcs12(pfx, password: null), generated);
    }

    private static X509Certificate2 FromPem(string certificatePath, string keyPath)
    {
        if (!File.Exists(keyPath))
            throw new ArgumentException($"Storage:TlsKey '{keyPath}' does not exist");
        using var pem = X509Certificate2.CreateFromPemFile(certificatePath, keyPath);
        // Re-imported so the key is usable by SslStream on every platform.
        return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), password: null);
    }

    private static byte[] CreateSelfSigned(string storageId)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN=teleport-storage-{storageId}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        var now = DateTimeOffset.UtcNow;
        using var certificate = request.CreateSelfSigned(now.AddDays(-1), now.AddYears(10));
        return certificate.Export(X509ContentType.Pkcs12);
    }

    public void Dispose() => Certificate.Dispose();
}
