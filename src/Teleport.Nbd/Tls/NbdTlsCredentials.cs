using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Teleport.Nbd.Tls;

/// <summary>
/// x509 credentials of one side of NBD over TLS, read from a directory in the layout of QEMU's
/// <c>tls-creds-x509 dir=</c>: <c>ca-cert.pem</c> (the CA(s) the peer's certificate must chain to) and
/// <c>server-cert.pem</c>/<c>server-key.pem</c> or <c>client-cert.pem</c>/<c>client-key.pem</c>. Both sides
/// present a certificate; each verifies the other's against the CA only (no system roots, no host name).
/// The identity of a client is its certificate's subject CN.
/// </summary>
public sealed class NbdTlsCredentials : NbdTls
{
    public const string CaFile = "ca-cert.pem";

    private static readonly Oid ServerAuth = new("1.3.6.1.5.5.7.3.1");
    private static readonly Oid ClientAuth = new("1.3.6.1.5.5.7.3.2");
    private const string CommonNameOid = "2.5.4.3";

    private readonly SslStreamCertificateContext _context;

    private NbdTlsCredentials(string directory, X509Certificate2Collection authorities, X509Certificate2 certificate)
    {
        Directory = directory;
        Authorities = authorities;
        Certificate = certificate;
        _context = SslStreamCertificateContext.Create(certificate, authorities, offline: true);
    }

    /// <summary>The directory the credentials were read from.</summary>
    public string Directory { get; }

    /// <summary>Certificates a peer's certificate must chain to.</summary>
    public X509Certificate2Collection Authorities { get; }

    /// <summary>Our own certificate, with its private key.</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>Reads <c>ca-cert.pem</c>, <c>server-cert.pem</c> and <c>server-key.pem</c> from <paramref name="directory"/>.</summary>
    /// <exception cref="InvalidDataException">A file is missing or unreadable, or the certificate is not the CA's.</exception>
    public static NbdTlsCredentials ForServer(string directory) => Load(directory, "server", ServerAuth);

    /// <summary>Reads <c>ca-cert.pem</c>, <c>client-cert.pem</c> and <c>client-key.pem</c> from <paramref name="directory"/>.</summary>
    /// <exception cref="InvalidDataException">A file is missing or unreadable, or the certificate is not the CA's.</exception>
    public static NbdTlsCredentials ForClient(string directory) => Load(directory, "client", ClientAuth);

    /// <summary>The subject CN of <paramref name="certificate"/>; null when it has none or several.</summary>
    public static string? IdentityOf(X509Certificate2 certificate)
    {
        string? name = null;
        foreach (var rdn in certificate.SubjectName.EnumerateRelativeDistinguishedNames())
        {
            if (rdn.HasMultipleElements)
            {
                continue;
            }

            if (rdn.GetSingleElementType().Value == CommonNameOid)
            {
                if (name is not null)
                {
                    return null;
                }

                name = rdn.GetSingleElementValue();
            }
        }

        return string.IsNullOrEmpty(name) ? null : name;
    }

    /// <summary>TLS settings of the server side: a client certificate from the CA, marked for client use if marked at all.</summary>
    public SslServerAuthenticationOptions ServerOptions() => new()
    {
        ServerCertificateContext = _context,
        ClientCertificateRequired = true,
        EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        RemoteCertificateValidationCallback = (_, certificate, chain, _) => IsFromAuthority(certificate, chain, ClientAuth),
    };

    /// <summary>TLS settings of the client side: a server certificate from the CA, marked for server use if marked at all.</summary>
    public SslClientAuthenticationOptions ClientOptions(string targetHost) => new()
    {
        TargetHost = targetHost,
        ClientCertificateContext = _context,
        EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        RemoteCertificateValidationCallback = (_, certificate, chain, _) => IsFromAuthority(certificate, chain, ServerAuth),
    };

    internal override async Task<(Stream Secure, string? Identity)> AcceptAsync(Stream plain, CancellationToken cancellationToken)
    {
        var ssl = await AuthenticateAsync(plain, s => s.AuthenticateAsServerAsync(ServerOptions(), cancellationToken)).ConfigureAwait(false);
        return (ssl, ssl.RemoteCertificate is X509Certificate2 certificate ? IdentityOf(certificate) : null);
    }

    internal override async Task<Stream> ConnectAsync(Stream plain, string targetHost, CancellationToken cancellationToken) =>
        await AuthenticateAsync(plain, s => s.AuthenticateAsClientAsync(ClientOptions(targetHost), cancellationToken)).ConfigureAwait(false);

    private static async Task<SslStream> AuthenticateAsync(Stream plain, Func<SslStream, Task> authenticate)
    {
        // The plain stream stays open under TLS: StartTlsStream closes it.
        var ssl = new SslStream(plain, leaveInnerStreamOpen: true);
        try
        {
            await authenticate(ssl).ConfigureAwait(false);
            return ssl;
        }
        catch
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static NbdTlsCredentials Load(string directory, string role, Oid usage)
    {
        if (!System.IO.Directory.Exists(directory))
        {
            throw new InvalidDataException($"NBD TLS directory '{directory}' does not exist.");
        }

        string caPath = Path.Combine(directory, CaFile);
        string certPath = Path.Combine(directory, $"{role}-cert.pem");
        string keyPath = Path.Combine(directory, $"{role}-key.pem");
        var authorities = new X509Certificate2Collection();
        X509Certificate2 certificate;
        try
        {
            authorities.ImportFromPemFile(caPath);
            certificate = X509Certificate2.CreateFromPemFile(certPath, keyPath);
        }
        catch (Exception e) when (e is IOException or CryptographicException or UnauthorizedAccessException or ArgumentException)
        {
            throw new InvalidDataException($"NBD TLS directory '{directory}' needs readable PEM files {CaFile}, {role}-cert.pem and {role}-key.pem (unencrypted key): {e.Message}", e);
        }

        if (authorities.Count == 0)
        {
            throw new InvalidDataException($"{caPath} holds no certificate.");
        }

        var credentials = new NbdTlsCredentials(directory, authorities, certificate);
        if (!credentials.IsFromAuthority(certificate, null, usage))
        {
            throw new InvalidDataException($"{certPath} is not issued by {caPath} for {role} use (or has expired): peers would refuse it.");
        }

        return credentials;
    }

    private bool IsFromAuthority(X509Certificate? presented, X509Chain? offered, Oid usage)
    {
        if (presented is null)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(Authorities);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(usage);
        if (offered is not null)
        {
            // Intermediates the peer sent; trust still has to end at one of our authorities.
            foreach (var element in offered.ChainElements)
            {
                chain.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }

        var certificate = presented as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(presented.GetRawCertData());
        return chain.Build(certificate);
    }
}
