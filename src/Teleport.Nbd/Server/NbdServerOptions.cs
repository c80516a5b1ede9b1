using Teleport.Nbd.Tls;

namespace Teleport.Nbd.Server;

/// <summary>Limits and choices of an <see cref="NbdServer"/>.</summary>
public sealed class NbdServerOptions
{
    /// <summary>Largest READ/WRITE payload (and advertised maximum block size). Default 32 MiB.</summary>
    public int MaxPayloadLength { get; init; } = 32 * 1024 * 1024;

    /// <summary>Requests executed at once per connection; the server stops reading the socket beyond it.</summary>
    public int MaxInFlightRequests { get; init; } = 16;

    /// <summary>Preferred block size advertised in NBD_INFO_BLOCK_SIZE.</summary>
    public int PreferredBlockSize { get; init; } = 4096;

    /// <summary>Accept NBD_OPT_STRUCTURED_REPLY (otherwise answer NBD_REP_ERR_UNSUP).</summary>
    public bool AllowStructuredReplies { get; init; } = true;

    /// <summary>Time a client has to finish option haggling.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Largest option payload accepted; a longer one closes the connection.</summary>
    public int MaxOptionLength { get; init; } = 16 * 1024;

    /// <summary>
    /// With credentials a client must start TLS (NBD_OPT_STARTTLS) and present a certificate from their CA before
    /// anything else: every other option is answered NBD_REP_ERR_TLS_REQD (NBD_OPT_EXPORT_NAME hangs up).
    /// </summary>
    public NbdTlsCredentials? Tls { get; init; }

    /// <summary>
    /// Over TLS: whether the client identified by its certificate's subject CN (second argument) may list and open
    /// the export named by the first. Null lets every client of the CA open every export.
    /// </summary>
    public Func<string, string, bool>? ExportAccess { get; init; }

    internal void Validate()
    {
        if (MaxPayloadLength < 4096 || MaxInFlightRequests < 1 || PreferredBlockSize < 1 || MaxOptionLength < 4096)
        {
            throw new ArgumentException("NbdServerOptions out of range.");
        }
    }
}
