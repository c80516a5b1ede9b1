using Teleport.Nbd.Tls;

namespace Teleport.Nbd.Server;

/// <summary>Limits and choices of an <see cref="NbdServer"/>.</summary>
public sealed record NbdServerOptions
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

    /// <summary>Connections open at once; further ones are closed as soon as they are accepted.</summary>
    public int MaxConnections { get; init; } = 1024;

    /// <summary>Connections open at once from one peer address (TCP only); further ones are closed when accepted.</summary>
    public int MaxConnectionsPerPeer { get; init; } = 256;

    /// <summary>
    /// Bytes of requests in flight per connection: READ lengths whose replies are not yet sent plus WRITE payloads.
    /// Past it the server stops reading requests until replies go out. A single larger request is still served alone.
    /// </summary>
    public long MaxBytesInFlight { get; init; } = 64L << 20;

    /// <summary>
    /// Bytes of payload buffers all connections together hold at once (WRITE payloads, READ slices being sent). Past it
    /// connections wait (back-pressure, never an error). At least one largest request's buffer (<see cref="MaxPayloadLength"/>
    /// rounded up to a power of two), so every request can run. Default 256 MiB.
    /// </summary>
    public long MemoryBudget { get; init; } = 256L << 20;

    /// <summary>A reply that makes no progress for this long (the client stopped reading) closes the connection.</summary>
    public TimeSpan ReplyTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// A WRITE whose payload has not fully arrived this long after its buffer was taken closes the connection: a client
    /// that sends a header and stalls must not hold its share of <see cref="MemoryBudget"/> for ever. 32 MiB takes 27 s
    /// at 10 Mbit/s, so the default leaves room for slow links.
    /// </summary>
    public TimeSpan PayloadTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// A connection with no request for this long (and none running) is closed. Off by default: a VM's disk may be
    /// quiet for hours and QEMU does not reconnect unless told to.
    /// </summary>
    public TimeSpan IdleTimeout { get; init; } = Timeout.InfiniteTimeSpan;

    /// <summary>
    /// With credentials a client must start TLS (NBD_OPT_STARTTLS) and authenticate before anything else (x509: a
    /// certificate from their CA; PSK: a known identity and its key): every other option is answered
    /// NBD_REP_ERR_TLS_REQD (NBD_OPT_EXPORT_NAME hangs up).
    /// </summary>
    public NbdTls? Tls { get; init; }

    /// <summary>
    /// Over TLS: whether the client identified by its certificate's subject CN or its PSK identity (second argument) may list and open
    /// the export named by the first. Null lets every client of the CA open every export.
    /// </summary>
    public Func<string, string, bool>? ExportAccess { get; init; }

    internal void Validate()
    {
        if (MaxPayloadLength is < 4096 or > 1 << 30 || MaxInFlightRequests < 1 || PreferredBlockSize < 1 || MaxOptionLength < 4096
            || MaxConnections < 1 || MaxConnectionsPerPeer < 1 || MaxBytesInFlight < 1
            || !Positive(ReplyTimeout) || !Positive(IdleTimeout) || !Positive(HandshakeTimeout) || !Positive(PayloadTimeout))
        {
            throw new ArgumentException("NbdServerOptions out of range.");
        }

        if (MemoryBudget < SmallestMemoryBudget())
        {
            throw new ArgumentException($"NBD MemoryBudget {MemoryBudget} must hold the buffer of the largest request ({SmallestMemoryBudget()} bytes for MaxPayloadLength {MaxPayloadLength})");
        }
    }

    /// <summary>The least <see cref="MemoryBudget"/> that lets the largest request run: its pooled buffer (a power of two).</summary>
    public long SmallestMemoryBudget() => Math.Max(NbdMemoryBudget.CostOf(MaxPayloadLength), NbdMemoryBudget.CostOf(NbdReadReply.BufferLength));

    private static bool Positive(TimeSpan span) => span > TimeSpan.Zero || span == Timeout.InfiniteTimeSpan;
}
