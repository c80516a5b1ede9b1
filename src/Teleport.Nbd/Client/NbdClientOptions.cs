using Teleport.Nbd.Tls;

namespace Teleport.Nbd.Client;

/// <summary>Choices of an <see cref="NbdClient"/>.</summary>
public sealed class NbdClientOptions
{
    /// <summary>Ask for structured replies (the server may refuse; simple replies are used then).</summary>
    public bool StructuredReplies { get; init; } = true;

    /// <summary>Requests in flight at once; further calls wait for a free slot.</summary>
    public int MaxInFlightRequests { get; init; } = 64;

    /// <summary>Largest read/write per request when the server does not advertise a maximum.</summary>
    public int DefaultMaxPayload { get; init; } = 32 * 1024 * 1024;

    /// <summary>
    /// When the server has no export of that name yet, ask again with NBD_OPT_GO on the same connection (the server
    /// stays in option haggling after an error) every <see cref="ExportPollInterval"/>, for up to this long: one round
    /// trip per try instead of a new connection and handshake. For an export about to appear, such as a migration's
    /// destination finishing its final sync while the VM host switches to it. Zero: fail at once.
    /// </summary>
    public TimeSpan ExportWait { get; init; } = TimeSpan.Zero;

    /// <summary>Pause between two NBD_OPT_GO for an export that is not there yet (see <see cref="ExportWait"/>).</summary>
    public TimeSpan ExportPollInterval { get; init; } = TimeSpan.FromMilliseconds(10);

    /// <summary>
    /// With credentials the client starts TLS (NBD_OPT_STARTTLS) before any other option, presents its certificate and
    /// accepts only a server certificate issued by their CA; a server that refuses TLS is not used.
    /// </summary>
    public NbdTls? Tls { get; init; }
}
