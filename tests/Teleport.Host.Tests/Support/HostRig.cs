using Teleport.Host.Worker;
using Teleport.Nbd.Server;

namespace Teleport.Host.Tests.Support;

/// <summary>
/// A host worker on the real broker with one VM "vm1" whose disk path leads to upstream A (a real NBD server on a
/// file), a real QEMU on that path (<c>-machine none</c>, or a caller's arguments), and the probe playing the saga.
/// </summary>
internal sealed class HostRig : IAsyncDisposable
{
    public const string VmId = "vm1";
    public const string Export = "vol";
    public const string SourceStorage = "store-a";
    public const long Size = 8L * 1024 * 1024;

    /// <summary>
    /// The storages the worker may switch to, as a real host's configuration lists them (Host:Storages): id and the
    /// name whose socket <see cref="StartUpstream"/> serves. Any other storage id in a SwitchTarget is refused.
    /// </summary>
    public static readonly (string Id, string Name)[] Storages =
        [("store-b", "b"), ("store-s", "small"), ("store-late", "late"), ("store-never", "never"), ("store-x", "nobody")];

    private HostRig(TempDir dir, Upstream a, HostWorkerRunner worker, QemuProcess qemu, BusProbe probe)
    {
        Dir = dir;
        A = a;
        Worker = worker;
        Qemu = qemu;
        Probe = probe;
    }

    public TempDir Dir { get; }

    public Upstream A { get; }

    public HostWorkerRunner Worker { get; }

    public QemuProcess Qemu { get; }

    public BusProbe Probe { get; }

    public string HostId => Worker.HostId;

    public HostVm Vm => Worker.Vm(VmId);

    public string DiskSocket => Dir.File("disk.sock");

    /// <param name="upstreamServer">How upstream A serves (TLS, grants); plain NBD by default.</param>
    /// <param name="logs">Where the host worker logs, when the test reads them.</param>
    public static async Task<HostRig> StartAsync(TempDir dir, long size = Size, Action<HostWorkerOptions>? configure = null, Func<string, string[]>? qemuArguments = null,
        NbdServerOptions? upstreamServer = null, Microsoft.Extensions.Logging.ILoggerProvider? logs = null)
    {
        var a = Upstream.Start(dir.File("a.sock"), dir.File("a.img"), Export, size, server: upstreamServer);
        string disk = dir.File("disk.sock");
        var worker = await HostWorkerRunner.StartAsync(o =>
        {
            o.AddVm(VmId, new HostVmOptions
            {
                QmpSocket = dir.File("qmp.sock"),
                DiskListen = $"unix:{disk}",
                StorageId = SourceStorage,
                Upstream = $"unix:{a.SocketPath}",
                Export = Export,
            });
            foreach (var (id, name) in Storages)
                o.AddStorage(id, $"unix:{dir.File(name + ".sock")}");
            configure?.Invoke(o);
        }, logs);
        string[] arguments = qemuArguments?.Invoke(disk) ??
        [
            "-machine", "none", "-nodefaults", "-nographic", "-display", "none", "-S",
            "-drive", $"driver=nbd,server.type=unix,server.path={disk},export={Export},if=none,id=d0,cache.direct=on",
        ];
        var qemu = await QemuProcess.StartAsync(dir.File("qmp.sock"), arguments);
        var probe = await BusProbe.StartAsync();
        return new HostRig(dir, a, worker, qemu, probe);
    }

    /// <summary>A second upstream B serving <paramref name="file"/> (a copy of A's, say) as the same export.</summary>
    public Upstream StartUpstream(string name, long size = Size, NbdServerOptions? server = null) =>
        Upstream.Start(Dir.File($"{name}.sock"), Dir.File($"{name}.img"), Export, size, server: server);

    public async ValueTask DisposeAsync()
    {
        await Probe.DisposeAsync();
        await Qemu.DisposeAsync();
        await Worker.DisposeAsync();
        await A.DisposeAsync();
    }
}
