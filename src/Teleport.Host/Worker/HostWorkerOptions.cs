using System.Text.RegularExpressions;
using Teleport.Host.Moves;
using Teleport.Messaging;
using Teleport.Nbd.Server;
using Teleport.Nbd.Tls;

namespace Teleport.Host.Worker;

/// <summary>
/// Configuration of one host worker, bound from the "Host" section (JSON, TELEPORT_HOST__* variables, flags).
/// </summary>
public sealed partial class HostWorkerOptions
{
    public const string SectionName = "Host";

    /// <summary>This host's id; commands arrive on <c>WorkerQueues.Host(HostId)</c>.</summary>
    public string HostId { get; set; } = "";

    /// <summary>"memory" (one process only) or a RabbitMQ address: <c>rabbitmq://user:pass@HOST:PORT/vhost</c> (amqp:// too).</summary>
    public string Bus { get; set; } = "memory";

    /// <summary>The VMs of this host by id.</summary>
    public Dictionary<string, HostVmOptions> Vms { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The storage workers a VM's disk may be switched to, by id (besides each VM's own StorageId).</summary>
    public Dictionary<string, HostStorageOptions> Storages { get; set; } = new(StringComparer.Ordinal);

    /// <summary>
    /// How long SwitchTarget keeps trying a destination that is unreachable or does not export the volume yet (it
    /// exports it when its final sync completes, which runs alongside the switch). Below the saga's cut-over timeout.
    /// </summary>
    public TimeSpan SwitchRetryWindow { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>
    /// A fenced cut-over the host carries itself (PauseVm.CutOverVolumeId) sends FinalSync straight to the source storage's
    /// queue right after the pause, saving the saga's hop. Off by default: it needs the host's broker user to write to
    /// storage queues, which the least-privilege users of infra/rabbitmq/bus-users.sh do not allow (a refused send also
    /// stalls the host's bus while its channel recovers). Off, the saga's FinalSync starts the final round.
    /// </summary>
    public bool SendFinalSync { get; set; }

    /// <summary>
    /// At start, run the cut-over once on private parts (<see cref="CutOverRehearsal"/>) so that a VM's first pause does
    /// not JIT-compile the cut-over's code. On by default.
    /// </summary>
    public bool Rehearse { get; set; } = true;

    /// <summary>Pause between those attempts.</summary>
    public TimeSpan SwitchRetryInterval { get; set; } = TimeSpan.FromMilliseconds(10);

    /// <summary>Time QEMU has to answer a QMP command.</summary>
    public TimeSpan QmpCommandTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Pause between attempts to start a VM's path switcher whose upstream was unreachable at start.</summary>
    public TimeSpan StartRetryInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// NBD over TLS to the storage workers: a directory in the layout of QEMU's tls-creds-x509 (ca-cert.pem,
    /// client-cert.pem, client-key.pem; the certificate's subject CN is <see cref="HostId"/>). Null: plain NBD.
    /// </summary>
    public string? NbdTlsDirectory { get; set; }

    /// <summary>
    /// NBD over TLS-PSK instead of x509: a key file in the format of QEMU's tls-creds-psk (<c>DIR/keys.psk</c>); this
    /// host uses the key of the identity <see cref="HostId"/>.
    /// </summary>
    public string? NbdPskFile { get; set; }

    /// <summary>
    /// Bytes of request buffers QEMU may hold at once on one VM's disk path (its local NBD server); past it requests
    /// wait. At least the buffer of the largest request (32 MiB).
    /// </summary>
    public long NbdMemoryBudget { get; set; } = new NbdServerOptions().MemoryBudget;

    /// <summary>Commands handled at once (operations on one VM still run one at a time).</summary>
    public int ConcurrentCommands { get; set; } = 16;

    /// <summary>Whole-VM moves: the QEMU binary this host starts incoming VMs with (run directly, never through a shell).</summary>
    public string QemuBinary { get; set; } = "qemu-system-x86_64";

    /// <summary>Where incoming VMs' QMP sockets, disk sockets and console logs live (created if missing).</summary>
    public string StateDirectory { get; set; } = Path.Combine(Path.GetTempPath(), "teleport-host");

    /// <summary>Where an incoming QEMU listens for memory: <c>ADDR:PORT</c>; port 0 lets QEMU pick a free one.</summary>
    public string MigrationListen { get; set; } = "127.0.0.1:0";

    /// <summary>The address the source host connects to (IncomingVmPrepared); default the listen address (required when that is a wildcard).</summary>
    public string? MigrationAdvertise { get; set; }

    /// <summary>Certificates for mutual TLS on the memory relay's links (QEMU's tls-creds-x509 layout: ca-cert.pem, server-/client-cert.pem, -key.pem); none: plain TCP.</summary>
    public string? MigrationTlsDirectory { get; set; }

    /// <summary>Let an incoming QEMU take plain memory streams on a non-loopback <see cref="MigrationListen"/> (refused otherwise: anyone reaching the port could feed the VM's memory).</summary>
    public bool MigrationInsecure { get; set; }

    /// <summary>How long a broken memory relay link may stay broken before the relay closes QEMU's migration sockets (the migration then fails as today).</summary>
    public TimeSpan MigrationRecoveryWindow { get; set; } = TimeSpan.FromMinutes(3);

    /// <summary>Peer host id → its address: the only hosts this host sends VM memory to.</summary>
    public Dictionary<string, string> Peers { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Directories that -kernel, -initrd and -bios of a VM definition may name on this host.</summary>
    public List<string> BootFileDirectories { get; set; } = [];

    /// <summary>How often a memory migration's progress (query-migrate) is published.</summary>
    public TimeSpan MemoryProgressInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Adds a VM (fluent, for callers composing the options in code).</summary>
    public HostWorkerOptions AddVm(string vmId, HostVmOptions vm)
    {
        Vms[vmId] = vm;
        return this;
    }

    /// <summary>Allows switching to storage <paramref name="storageId"/> at <paramref name="nbd"/> (fluent).</summary>
    public HostWorkerOptions AddStorage(string storageId, string nbd)
    {
        Storages[storageId] = new HostStorageOptions { Nbd = nbd };
        return this;
    }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad setting.</summary>
    public void Validate()
    {
        if (!IsSafeId(HostId))
            throw new ArgumentException($"Host:HostId '{HostId}' must be 1-128 letters, digits, '.', '_' or '-'");
        _ = BusAddress.Parse(Bus, "Host:Bus");
        foreach (var (id, vm) in Vms)
        {
            if (vm is null)
                throw new ArgumentException($"Host:Vms:{id} is empty");
            vm.Validate(id);
        }
        foreach (var (id, storage) in Storages)
        {
            if (!IsSafeId(id))
                throw new ArgumentException($"Host:Storages: storage id '{id}' must be 1-128 letters, digits, '.', '_' or '-'");
            _ = NbdAddress.Parse(storage?.Nbd, $"Host:Storages:{id}:Nbd");
        }

        var listens = Vms.GroupBy(v => v.Value.DiskListen, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (listens is not null)
            throw new ArgumentException($"VMs {string.Join(" and ", listens.Select(v => v.Key))} share DiskListen '{listens.Key}'");
        if (SwitchRetryWindow < TimeSpan.Zero || SwitchRetryInterval <= TimeSpan.Zero || StartRetryInterval <= TimeSpan.Zero || QmpCommandTimeout <= TimeSpan.Zero)
            throw new ArgumentException("Host:SwitchRetryWindow, SwitchRetryInterval, StartRetryInterval and QmpCommandTimeout must be positive");
        ArgumentOutOfRangeException.ThrowIfLessThan(ConcurrentCommands, 1, "Host:ConcurrentCommands");
        long smallest = new NbdServerOptions().SmallestMemoryBudget();
        if (NbdMemoryBudget < smallest)
            throw new ArgumentException($"Host:NbdMemoryBudget (--nbd-memory-budget) {NbdMemoryBudget} cannot hold the largest NBD request: at least {smallest} bytes");
        _ = UpstreamTls();
        VmMoveSettings.Validate(this);
    }

    /// <summary>The client credentials of <see cref="NbdTlsDirectory"/> or <see cref="NbdPskFile"/>, read now; null without either.</summary>
    /// <exception cref="ArgumentException">Both are set, or a file is missing, unreadable or has no key for this host.</exception>
    public NbdTls? UpstreamTls()
    {
        try
        {
            return (NbdTlsDirectory, NbdPskFile) switch
            {
                ({ Length: > 0 }, { Length: > 0 }) => throw new ArgumentException("Host:NbdTlsDirectory and Host:NbdPskFile exclude each other: pick x509 or PSK"),
                ({ Length: > 0 } directory, _) => NbdTlsCredentials.ForClient(directory),
                (_, { Length: > 0 } file) => NbdPskCredentials.ForClient(file, HostId),
                _ => null,
            };
        }
        catch (InvalidDataException e)
        {
            throw new ArgumentException($"Host:{(NbdPskFile is { Length: > 0 } ? "NbdPskFile" : "NbdTlsDirectory")}: {e.Message}", e);
        }
    }

    /// <summary>Ids become queue names and log fields: the saga's alphabet.</summary>
    public static bool IsSafeId(string? id) => id is not null && SafeId().IsMatch(id);

    [GeneratedRegex("^[A-Za-z0-9._-]{1,128}$")]
    private static partial Regex SafeId();
}
