using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Teleport.Transfer;

namespace Teleport.Storage.Security;

/// <summary>
/// The credentials of the data channel's mutual-TLS mode, read from a directory in the layout of QEMU's
/// tls-creds-x509 (<c>dir=</c>): <c>ca-cert.pem</c> (the operator's CA, one or more certificates), <c>server-cert.pem</c>
/// and <c>server-key.pem</c> (this worker as destination), optionally <c>client-cert.pem</c> and <c>client-key.pem</c>
/// (this worker as source; the server pair otherwise). Every certificate of ours must be issued by the CA and carry this
/// worker's storage id as its subject CN: that CN is the identity the peer checks.
/// </summary>
/// <param name="Authorities">The CA certificates a peer's certificate must chain to.</param>
/// <param name="Server">Presented when this worker receives (TLS server).</param>
/// <param name="Client">Presented when this worker sends (TLS client).</param>
/// <param name="Directory">Where they were read from.</param>
public sealed record DataChannelIdentity(X509Certificate2Collection Authorities, X509Certificate2 Server, X509Certificate2 Client, string Directory)
    : IDisposable
{
    public const string CaFile = "ca-cert.pem";
    public const string ServerCertificateFile = "server-cert.pem";
    public const string ServerKeyFile = "server-key.pem";
    public const string ClientCertificateFile = "client-cert.pem";
    public const string ClientKeyFile = "client-key.pem";

    /// <summary>Loads and checks the directory; a missing file, a bad key or a certificate not naming <paramref name="storageId"/> is an <see cref="ArgumentException"/>.</summary>
    public static DataChannelIdentity Load(string directory, string storageId)
    {
        if (!System.IO.Directory.Exists(directory))
            throw new ArgumentException($"Storage:DataTlsDirectory '{directory}' does not exist");
        var authorities = LoadAuthorities(Path.Combine(directory, CaFile));
        var server = LoadPair(directory, ServerCertificateFile, ServerKeyFile, storageId, authorities, asServer: true);
        bool ownClient = File.Exists(Path.Combine(directory, ClientCertificateFile));
        var client = ownClient ? LoadPair(directory, ClientCertificateFile, ClientKeyFile, storageId, authorities, asServer: false) : server;
        if (!ownClient)
            Check(server, ServerCertificateFile, storageId, authorities, asServer: false);
        return new DataChannelIdentity(authorities, server, client, directory);
    }

    /// <summary>TLS of an incoming migration: only <paramref name="sourceStorageId"/>'s certificate is accepted.</summary>
    public TransferTls ForDestination(string sourceStorageId) =>
        new() { Certificate = Server, TrustedAuthorities = Authorities, PeerName = sourceStorageId };

    /// <summary>TLS of an outgoing migration: only <paramref name="destinationStorageId"/>'s certificate is accepted.</summary>
    public TransferTls ForSource(string destinationStorageId) =>
        new() { Certificate = Client, TrustedAuthorities = Authorities, PeerName = destinationStorageId, TargetHost = destinationStorageId };

    private static X509Certificate2Collection LoadAuthorities(string path)
    {
        if (!File.Exists(path))
            throw new ArgumentException($"the data-channel CA '{path}' does not exist");
        var authorities = new X509Certificate2Collection();
        try
        {
            authorities.ImportFromPemFile(path);
        }
        catch (CryptographicException e)
        {
            throw new ArgumentException($"the data-channel CA '{path}' cannot be read: {e.Message}", e);
        }

        return authorities.Count > 0 ? authorities : throw new ArgumentException($"the data-channel CA '{path}' holds no certificate");
    }

    private static X509Certificate2 LoadPair(string directory, string certificateFile, string keyFile, string storageId,
        X509Certificate2Collection authorities, bool asServer)
    {
        string certificatePath = Path.Combine(directory, certificateFile);
        string keyPath = Path.Combine(directory, keyFile);
        if (!File.Exists(certificatePath) || !File.Exists(keyPath))
            throw new ArgumentException($"the data channel's mutual TLS needs {certificateFile} and {keyFile} in '{directory}'");
        X509Certificate2 pair;
        try
        {
            using var pem = X509Certificate2.CreateFromPemFile(certificatePath, keyPath);
            // Re-imported so SslStream can use the key on every platform.
            pair = X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), password: null);
        }
        catch (CryptographicException e)
        {
            throw new ArgumentException($"'{certificatePath}' with '{keyPath}' cannot be loaded: {e.Message}", e);
        }

        try
        {
            Check(pair, certificateFile, storageId, authorities, asServer);
        }
        catch
        {
            pair.Dispose();
            throw;
        }

        return pair;
    }

    // Our own certificate must pass the very check a peer applies to it, or no peer would accept us.
    private static void Check(X509Certificate2 certificate, string file, string storageId, X509Certificate2Collection authorities, bool asServer)
    {
        var expected = new TransferTls { TrustedAuthorities = authorities, PeerName = storageId };
        if (PeerCertificateCheck.Problem(expected, certificate, null, peerIsServer: asServer) is { } problem)
            throw new ArgumentException($"{file} cannot serve as storage '{storageId}' {(asServer ? "receiving" : "sending")}: {problem}");
    }

    public void Dispose()
    {
        if (!ReferenceEquals(Client, Server))
            Client.Dispose();
        Server.Dispose();
        foreach (var authority in Authorities)
            authority.Dispose();
    }
}
