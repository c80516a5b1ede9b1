using System.Net;
using Teleport.Blocks;
using Teleport.Messaging;
using Teleport.Nbd.Server;
using Teleport.Nbd.Tls;
using Teleport.Storage.DirtyTracking;
using Teleport.Storage.Volumes;

namespace Teleport.Storage.Worker;

/// <summary>
/// Configuration of one storage worker, bound from the "Storage" section (JSON, TELEPORT_STORAGE__* variables, flags).
/// </summary>
public sealed class StorageWorkerOptions
{
    public const string SectionName = "Storage";

    /// <summary>This worker's id; commands arrive on <c>WorkerQueues.Storage(StorageId)</c>.</summary>
    public string StorageId { get; set; } = "";

    /// <summary>Directory of the volumes: every <c>NAME.img</c> in it is exported as NAME.</summary>
    public string VolumeDirectory { get; set; } = "";

    /// <summary>Content index the destination side rebuilds blocks from (optional).</summary>
    public string? IndexDirectory { get; set; }

    /// <summary>
    /// Batched index lookups read the table entries they need with O_DIRECT instead of through the table's mapping: for
    /// an index whose table the worker's memory limit cannot keep cached (docs/storage.md "The index on disk").
    /// </summary>
    public bool IndexReadsDirect { get; set; }

    /// <summary>Where VM hosts reach the NBD exports (ADDR:PORT).</summary>
    public string NbdListen { get; set; } = "0.0.0.0:10809";

    /// <summary>
    /// NBD over TLS: a directory in the layout of QEMU's tls-creds-x509 (ca-cert.pem, server-cert.pem, server-key.pem).
    /// Clients must start TLS with a certificate from that CA; each sees only the volumes its CN is allowed (<see cref="ExportClients"/>).
    /// </summary>
    public string? NbdTlsDirectory { get; set; }

    /// <summary>
    /// NBD over TLS-PSK instead of x509: a key file in the format of QEMU's tls-creds-psk (<c>DIR/keys.psk</c>, one
    /// <c>identity:hexkey</c> a line). The identity a client proves is its host id for <see cref="ExportClients"/>.
    /// </summary>
    public string? NbdPskFile { get; set; }

    /// <summary>Whether NBD is served over TLS (x509 or PSK).</summary>
    public bool NbdSecured => NbdTlsDirectory is { Length: > 0 } || NbdPskFile is { Length: > 0 };

    /// <summary>Serve plain NBD on a non-loopback <see cref="NbdListen"/> without <see cref="NbdTlsDirectory"/> or <see cref="NbdPskFile"/> (refused otherwise).</summary>
    public bool NbdInsecure { get; set; }

    /// <summary>
    /// Over TLS: volume name to the host ids (client certificate CNs) allowed its export, for volumes served before any
    /// migration. Migrations add the VM's host to <c>NAME.img.clients</c> beside the volume, which counts too.
    /// </summary>
    public Dictionary<string, string[]> ExportClients { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Limits of the NBD server ("Storage:Nbd:MaxConnections", ...): connection caps, timeouts, bytes in flight.</summary>
    public NbdServerOptions Nbd { get; set; } = new();

    /// <summary>Handshake timeout and caps of the data channel ("Storage:DataChannel:HandshakeTimeout", ...).</summary>
    public DataChannelLimits DataChannel { get; set; } = new();

    /// <summary>Where the destination side listens for a source's data channel (ADDR:PORT; port 0 picks one per migration).</summary>
    public string DataListen { get; set; } = "0.0.0.0:0";

    /// <summary>Host name or address peers use to reach this worker; defaults to the listen address when it is not a wildcard.</summary>
    public string? AdvertiseHost { get; set; }

    public int BlockSize { get; set; } = BlockSizes.Default;

    /// <summary>"memory" (one process only) or a RabbitMQ address: <c>rabbitmq://user:pass@HOST:PORT/vhost</c> (amqp:// too).</summary>
    public string Bus { get; set; } = "memory";

    public DirtyTrackingMode DirtyTracking { get; set; } = DirtyTrackingMode.Auto;

    /// <summary>Defaults for what a migration's <c>MigrationOptions</c> leaves null.</summary>
    public long DirtyThresholdBlocks { get; set; } = 256;

    public int MaxCopyRounds { get; set; } = 30;

    /// <summary>zstd level of outgoing migrations; null adapts it to the link and the CPU (0 turns compression off).</summary>
    public int? CompressionLevel { get; set; }

    /// <summary>
    /// Largest zstd window of an outgoing migration's data stream, log2 bytes, 20..27 (27: 128 MiB, capped at the
    /// volume size). Each migration holds one window on each end: lower it on a server running many at once.
    /// </summary>
    public int MaxCompressionWindowLog { get; set; } = 27;

    /// <summary>
    /// Bytes an incoming migration's data channel reads ahead of its handling, so the link keeps flowing while the
    /// destination copies from its index; 0 reads on demand. Held per incoming migration.
    /// </summary>
    public int ReceiveReadAheadBytes { get; set; } = 16 << 20;

    /// <summary>
    /// Fenced cut-over: how long the VM's I/O on a block still in flight waits for it before it fails with EIO (never stale
    /// data). Long enough to ride out a data-channel reconnect.
    /// </summary>
    public TimeSpan FenceWaitTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a stopping worker waits for its migrations to wind down.</summary>
    public TimeSpan StopTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The worker's own state: the migration journal and the generated data-channel certificate. Default: <c>VolumeDirectory/.teleport</c>.</summary>
    public string? StateDirectory { get; set; }

    /// <summary>Without <see cref="DataTlsDirectory"/>: serve incoming migrations' data channel with TLS (the source pins the certificate by DestinationPrepared.CertificateSha256).</summary>
    public bool DataChannelTls { get; set; } = true;

    /// <summary>Certificate for the data channel: a PKCS#12 file (with its key), or a PEM certificate with <see cref="TlsKey"/>. Default: a self-signed one generated once in the state directory.</summary>
    public string? TlsCertificate { get; set; }

    /// <summary>PEM private key of a PEM <see cref="TlsCertificate"/>.</summary>
    public string? TlsKey { get; set; }

    /// <summary>Password of a PKCS#12 <see cref="TlsCertificate"/>.</summary>
    public string? TlsCertificatePassword { get; set; }

    /// <summary>
    /// Mutual TLS for the data channel between storage workers: a directory in the layout of QEMU's tls-creds-x509
    /// (ca-cert.pem; server-cert.pem and server-key.pem, optionally client-cert.pem and client-key.pem), every certificate
    /// issued by the CA with this worker's StorageId as its subject CN. Set, no secret or pin crosses the bus and volumes
    /// go only to <see cref="Peers"/>; it replaces <see cref="TlsCertificate"/> and the generated certificate.
    /// </summary>
    public string? DataTlsDirectory { get; set; }

    /// <summary>
    /// The storage workers this one sends volumes to: storage id → "HOST" (any port: each migration listens on its own)
    /// or "HOST:PORT" of its data channel. A StartTransfer naming another endpoint is refused. Required with
    /// <see cref="DataTlsDirectory"/>; when empty without it, the endpoint a StartTransfer names is used (single machine).
    /// </summary>
    public Dictionary<string, string> Peers { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Storage workers of this site whose indexes incoming migrations consult before the source (docs/storage.md, "Buddies").</summary>
    public Buddies.BuddySettings Buddies { get; set; } = new();

    /// <summary>With an index: index the served volumes and keep their entries current as NBD writes change blocks.</summary>
    public bool IndexVolumes { get; set; } = true;

    /// <summary>How long the indexer waits after a write before re-hashing, so a burst of writes is read once.</summary>
    public TimeSpan IndexDebounce { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Least time between two saves of the index file by the indexer (it is also saved at stop).</summary>
    public TimeSpan IndexSaveInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long the source keeps a volume it moved away as a retained copy (indexed, not exported, read-only), so a
    /// move back sends only what changed. Zero turns retention off: the old volume stays a served volume, as before.
    /// </summary>
    public TimeSpan RetentionPeriod { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Most bytes (apparent file sizes) retained copies may take; oldest deleted first. Null: a tenth of the volume directory's filesystem.</summary>
    public long? RetentionBudgetBytes { get; set; }

    /// <summary>How often expired copies and copies over the budget are deleted (also at start and after each retention).</summary>
    public TimeSpan RetentionSweepInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>The state directory in use.</summary>
    public string EffectiveStateDirectory => StateDirectory is { Length: > 0 } dir ? dir : Path.Combine(VolumeDirectory, ".teleport");

    public IPEndPoint NbdEndPoint => ParseEndPoint(NbdListen, "NbdListen");

    public IPEndPoint DataEndPoint => ParseEndPoint(DataListen, "DataListen");

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad setting.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(StorageId) || StorageId.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')))
            throw new ArgumentException($"Storage:StorageId '{StorageId}' must be non-empty and use only letters, digits, '-', '_' and '.'");
        if (string.IsNullOrWhiteSpace(VolumeDirectory))
            throw new ArgumentException("Storage:VolumeDirectory is required");
        BlockSizes.Validate(BlockSize);
        ValidateNbdSecurity();
        if (Nbd.MemoryBudget < Nbd.SmallestMemoryBudget())
            throw new ArgumentException($"Storage:Nbd:MemoryBudget (--nbd-memory-budget) {Nbd.MemoryBudget} cannot hold the largest NBD request: at least " +
                                        $"{Nbd.SmallestMemoryBudget()} bytes for Storage:Nbd:MaxPayloadLength {Nbd.MaxPayloadLength}");
        DataChannel.Validate();
        _ = DataEndPoint;
        _ = BusAddress.Parse(Bus, "Storage:Bus");
        ArgumentOutOfRangeException.ThrowIfNegative(DirtyThresholdBlocks, "Storage:DirtyThresholdBlocks");
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxCopyRounds, 1, "Storage:MaxCopyRounds");
        if (MaxCompressionWindowLog is < 20 or > 27)
            throw new ArgumentException($"Storage:MaxCompressionWindowLog {MaxCompressionWindowLog} must be 20..27 (1 MiB to 128 MiB)");
        ArgumentOutOfRangeException.ThrowIfNegative(ReceiveReadAheadBytes, "Storage:ReceiveReadAheadBytes");
        if (TlsKey is not null && TlsCertificate is null)
            throw new ArgumentException("Storage:TlsKey is set without Storage:TlsCertificate");
        if (DataTlsDirectory is { Length: > 0 } && TlsCertificate is not null)
            throw new ArgumentException("Storage:DataTlsDirectory (mutual TLS) and Storage:TlsCertificate (pinned) exclude each other: choose one");
        foreach (var (id, address) in Peers)
            _ = Security.KnownPeers.Parse(id, address);
        Buddies.Validate(this);
        if (IndexDebounce < TimeSpan.Zero || IndexSaveInterval < TimeSpan.Zero)
            throw new ArgumentException("Storage:IndexDebounce and Storage:IndexSaveInterval must not be negative");
        if (RetentionPeriod < TimeSpan.Zero || RetentionBudgetBytes < 0 || RetentionSweepInterval <= TimeSpan.Zero)
            throw new ArgumentException("Storage:RetentionPeriod and Storage:RetentionBudgetBytes must not be negative, Storage:RetentionSweepInterval must be positive");
    }

    private void ValidateNbdSecurity()
    {
        var nbd = NbdEndPoint;
        if (NbdSecured)
        {
            _ = NbdServerTls();
        }
        else if (!NbdInsecure && !IPAddress.IsLoopback(nbd.Address))
        {
            throw new ArgumentException($"Storage:NbdListen {NbdListen} is reachable from the network: serve NBD over TLS (--nbd-tls-dir DIR or " +
                                        "--nbd-psk-file FILE) or accept plain NBD there with --nbd-insecure (Storage:NbdInsecure)");
        }

        foreach (var (volume, clients) in ExportClients)
        {
            if (!VolumeStore.IsValidName(volume) || clients is null || !clients.All(ExportClientList.IsValidClient))
                throw new ArgumentException($"Storage:ExportClients:{volume} must name a volume and host ids (letters, digits, '.', '_', '-')");
        }
    }

    /// <summary>The "host:port" a source should connect to for a destination bound at <paramref name="bound"/>.</summary>
    public string Advertise(IPEndPoint bound)
    {
        string host = AdvertiseHost
            ?? (bound.Address.Equals(IPAddress.Any) || bound.Address.Equals(IPAddress.IPv6Any) ? Dns.GetHostName() : bound.Address.ToString());
        return host.Contains(':') && !host.StartsWith('[') ? $"[{host}]:{bound.Port}" : $"{host}:{bound.Port}";
    }

    private static IPEndPoint ParseEndPoint(string text, string name) =>
        IPEndPoint.TryParse(text, out var endPoint) && text.Contains(':')
            ? endPoint
            : throw new ArgumentException($"Storage:{name} '{text}' is not ADDR:PORT (e.g. 0.0.0.0:10809)");

    /// <summary>The NBD server's TLS credentials (x509 or PSK), read now; null when NBD is plain.</summary>
    /// <exception cref="ArgumentException">Both kinds are set, or the files are missing or malformed.</exception>
    public NbdTls? NbdServerTls()
    {
        try
        {
            return (NbdTlsDirectory, NbdPskFile) switch
            {
                ({ Length: > 0 }, { Length: > 0 }) => throw new ArgumentException("Storage:NbdTlsDirectory and Storage:NbdPskFile exclude each other: pick x509 or PSK"),
                ({ Length: > 0 } directory, _) => NbdTlsCredentials.ForServer(directory),
                (_, { Length: > 0 } file) => NbdPskCredentials.ForServer(file),
                _ => null,
            };
        }
        catch (InvalidDataException e)
        {
            throw new ArgumentException($"Storage:{(NbdPskFile is { Length: > 0 } ? "NbdPskFile" : "NbdTlsDirectory")}: {e.Message}", e);
        }
    }
}
