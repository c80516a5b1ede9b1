namespace Teleport.Nbd.Tls;

/// <summary>
/// What secures an NBD connection once NBD_OPT_STARTTLS is agreed: x509 certificates (<see cref="NbdTlsCredentials"/>)
/// or pre-shared keys (<see cref="NbdPskCredentials"/>). Both run over the same STARTTLS flow and give the server the
/// client's identity, which the per-export grants are checked against.
/// </summary>
public abstract class NbdTls
{
    private protected NbdTls()
    {
    }

    /// <summary>Runs the server side of the handshake over <paramref name="plain"/>.</summary>
    /// <returns>The secured stream and the client's identity (null when it has none usable: refuse it).</returns>
    /// <exception cref="System.Security.Authentication.AuthenticationException">The handshake failed.</exception>
    internal abstract Task<(Stream Secure, string? Identity)> AcceptAsync(Stream plain, CancellationToken cancellationToken);

    /// <summary>Runs the client side of the handshake over <paramref name="plain"/>.</summary>
    /// <exception cref="System.Security.Authentication.AuthenticationException">The handshake failed.</exception>
    internal abstract Task<Stream> ConnectAsync(Stream plain, string targetHost, CancellationToken cancellationToken);
}
