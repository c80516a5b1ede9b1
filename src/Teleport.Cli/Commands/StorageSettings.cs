using System.Globalization;

namespace Teleport.Cli.Commands;

/// <summary>
/// Options of <c>teleport storage</c>: the "Storage" section, e.g. { "Storage": { "StorageId": ...,
/// "VolumeDirectory": ... } } in --config.
/// </summary>
public sealed class StorageSettings : RoleSettings
{
    [CommandOption("--id <ID>")]
    [Description("This storage worker's id; commands arrive on the queue teleport-storage-ID.")]
    public string? Id { get; init; }

    [CommandOption("--volumes <DIR>")]
    [Description("Volume directory: every NAME.img in it is served over NBD as NAME.")]
    public string? Volumes { get; init; }

    [CommandOption("--nbd-listen <ADDR:PORT>")]
    [Description("Where VM hosts reach the NBD exports (default 0.0.0.0:10809).")]
    public string? NbdListen { get; init; }

    [CommandOption("--data-listen <ADDR:PORT>")]
    [Description("Where incoming migrations' data channels listen (default 0.0.0.0:0: a free port per migration).")]
    public string? DataListen { get; init; }

    [CommandOption("--advertise <HOST>")]
    [Description("Host name or address the peer storage worker uses to reach this one (default: the data listen address, or this host's name).")]
    public string? Advertise { get; init; }

    [CommandOption("--index <DIR>")]
    [Description("Content index incoming migrations rebuild blocks from (see teleport index build).")]
    public string? Index { get; init; }

    [CommandOption("--nbd-tls-dir <DIR>")]
    [Description("Serve NBD over TLS only: DIR holds ca-cert.pem, server-cert.pem and server-key.pem (QEMU's tls-creds-x509 layout); clients need a certificate from that CA whose CN is a host allowed the volume.")]
    public string? NbdTlsDir { get; init; }

    [CommandOption("--nbd-psk-file <FILE>")]
    [Description("Serve NBD over TLS-PSK instead: FILE has identity:hexkey lines (QEMU's tls-creds-psk keys.psk); a client's identity is the host allowed the volume.")]
    public string? NbdPskFile { get; init; }

    [CommandOption("--nbd-insecure")]
    [Description("Allow plain NBD (no TLS, no client authentication) on a non-loopback --nbd-listen address.")]
    public bool NbdInsecure { get; init; }

    [CommandOption("--nbd-memory-budget <SIZE>")]
    [Description("Bytes of request buffers all NBD clients together may hold (e.g. 256M, the default); past it clients wait. At least the largest request (32M).")]
    public string? NbdMemoryBudget { get; init; }

    [CommandOption("--data-tls-dir <DIR>")]
    [Description("Mutual TLS between storage workers: ca-cert.pem, server-cert.pem, server-key.pem (CN = this storage id) in QEMU's layout; peers then come from Storage:Peers.")]
    public string? DataTlsDir { get; init; }

    protected override string Section => "Storage";

    protected override IEnumerable<(string Key, string? Value)> Flags() =>
    [
        ("StorageId", Id), ("VolumeDirectory", Volumes), ("NbdListen", NbdListen), ("DataListen", DataListen),
        ("AdvertiseHost", Advertise), ("IndexDirectory", Index), ("NbdTlsDirectory", NbdTlsDir), ("NbdPskFile", NbdPskFile), ("NbdInsecure", NbdInsecure ? "true" : null),
        ("DataTlsDirectory", DataTlsDir),
        ("Nbd:MemoryBudget", NbdMemoryBudget is null ? null : ByteSize.Parse(NbdMemoryBudget, "--nbd-memory-budget").ToString(CultureInfo.InvariantCulture)),
    ];
}
