using System.Globalization;

namespace Teleport.Cli.Commands;

/// <summary>
/// Options of <c>teleport host</c>: the "Host" section, e.g. TELEPORT_HOST__VMS__vm42__QMPSOCKET. Its --config file
/// looks like { "Host": { "HostId": ..., "Vms": { "vm42": { "QmpSocket": ..., "DiskListen": ..., "StorageId": ...,
/// "Upstream": ..., "Export": ..., "DefinitionFile": ... } }, "Peers": { "host-b": "10.0.0.2" }, "MigrationListen": ... } }.
/// </summary>
public sealed class HostSettings : RoleSettings
{
    [CommandOption("--id <HOST>")]
    [Description("This host worker's id; commands arrive on the queue teleport-host-HOST.")]
    public string? Id { get; init; }

    [CommandOption("--vm <SPEC>")]
    [Description("A VM (repeatable): VMID,qmp=PATH,listen=unix:/run/x.sock,storage=ID,upstream=HOST:PORT,export=NAME[[,definition=FILE.json]] (the QEMU definition a whole-VM move starts it from).")]
    public string[] Vms { get; init; } = [];

    [CommandOption("--nbd-tls-dir <DIR>")]
    [Description("Reach the storage workers' NBD over TLS: DIR holds ca-cert.pem, client-cert.pem and client-key.pem (QEMU's tls-creds-x509 layout; the certificate's CN is this host's id).")]
    public string? NbdTlsDir { get; init; }

    [CommandOption("--nbd-psk-file <FILE>")]
    [Description("Reach the storage workers' NBD over TLS-PSK instead: FILE has identity:hexkey lines (QEMU's tls-creds-psk keys.psk); this host uses the key of its id.")]
    public string? NbdPskFile { get; init; }

    [CommandOption("--nbd-memory-budget <SIZE>")]
    [Description("Bytes of request buffers QEMU may hold at once on each VM's disk path (e.g. 256M, the default); past it requests wait. At least the largest request (32M).")]
    public string? NbdMemoryBudget { get; init; }

    protected override string Section => "Host";

    protected override IEnumerable<(string Key, string? Value)> Flags() =>
    [
        ("HostId", Id), ("NbdTlsDirectory", NbdTlsDir), ("NbdPskFile", NbdPskFile),
        ("NbdMemoryBudget", NbdMemoryBudget is null ? null : ByteSize.Parse(NbdMemoryBudget, "--nbd-memory-budget").ToString(CultureInfo.InvariantCulture)),
    ];

    /// <inheritdoc/>
    /// <exception cref="UserInputException">A malformed --vm.</exception>
    public override IReadOnlyDictionary<string, string?> Overrides()
    {
        var keys = new Dictionary<string, string?>(base.Overrides());
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (string spec in Vms)
            HostVmSpec.AddTo(keys, spec, seen);
        return keys;
    }
}
