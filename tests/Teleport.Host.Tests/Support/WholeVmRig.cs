using System.Text.Json;
using Teleport.Contracts;
using Teleport.Host.Worker;

namespace Teleport.Host.Tests.Support;

/// <summary>
/// Two host workers on the real broker for whole-VM moves: the source runs the test guest in a real QEMU (TCG) whose
/// disk goes through its path switcher to upstream A; its definition file is what DescribeVm reads. The destination
/// host starts incoming VMs in its own state directory, with the guest's kernel directory allowed.
/// </summary>
internal sealed class WholeVmRig : IAsyncDisposable
{
    public const string VmId = "vm1";
    public const string Export = "vol";
    public const string DiskNode = "disk0";
    public const long DiskSize = 64L * 1024 * 1024;

    private WholeVmRig(TempDir dir, Upstream a, HostWorkerRunner source, HostWorkerRunner destination, QemuProcess qemu)
    {
        Dir = dir;
        A = a;
        Source = source;
        Destination = destination;
        Qemu = qemu;
    }

    public TempDir Dir { get; }

    public Upstream A { get; }

    public HostWorkerRunner Source { get; }

    public HostWorkerRunner Destination { get; }

    public QemuProcess Qemu { get; }

    /// <summary>The incoming VM's console, as the destination host logs it.</summary>
    public string DestinationConsole => ReadShared(Path.Combine(Destination.Options.StateDirectory, VmId + ".console.log"));

    /// <summary>The test guest's machine and devices: what a definition file holds. no_timer_check: on a loaded host TCG's timer
    /// runs late enough for the kernel's boot-time IO-APIC timer check to panic.</summary>
    public static List<string> GuestArguments(int records, ulong run, int dirtyMiB = 0, int delayMicroseconds = 0) =>
    [
        // 256 MiB less 8 KiB: QEMU 7.2 under TCG loses guest stores during a memory migration when the RAM's size is a
        // multiple of 256 KiB (its fast dirty-bitmap path leaves TCG's TLB stale; fixed in QEMU 9.0); any other size takes
        // the per-page path, which is correct. See docs/host.md.
        "-machine", "q35", "-m", "262136k", "-smp", "1", "-nodefaults", "-nographic", "-no-reboot", "-serial", "stdio",
        "-accel", "tcg", "-cpu", "max", "-kernel", Tools.GuestKernel, "-initrd", Tools.GuestInitrd,
        "-append", $"console=ttyS0 panic=-1 no_timer_check quiet loglevel=4 guest.count={records} guest.every=50 guest.run={run} guest.dirty={dirtyMiB} " +
            $"guest.delay={delayMicroseconds}",
        "-device", $"virtio-blk-pci,drive={DiskNode}",
    ];

    /// <summary>Starts both hosts and the source QEMU; <paramref name="configure"/> adds settings to both hosts; the guest
    /// rewrites <paramref name="dirtyMiB"/> MiB of its memory over and over while it writes, and pauses
    /// <paramref name="delayMicroseconds"/> between records; both hosts log to <paramref name="logs"/> when given.</summary>
    public static async Task<WholeVmRig> StartAsync(TempDir dir, int records, ulong run, Action<HostWorkerOptions>? configure = null, int dirtyMiB = 0,
        int delayMicroseconds = 0, CapturedLogs? logs = null)
    {
        var a = Upstream.Start(dir.File("a.sock"), dir.File("a.img"), Export, DiskSize);
        string definition = dir.File("vm1.json");
        var arguments = GuestArguments(records, run, dirtyMiB, delayMicroseconds);
        await File.WriteAllTextAsync(definition, JsonSerializer.Serialize(new { arguments, diskNodeName = DiskNode }));
        var destination = await HostWorkerRunner.StartAsync(o =>
        {
            o.StateDirectory = dir.File("dest-state");
            o.QemuBinary = Tools.QemuSystem;
            o.MigrationListen = "127.0.0.1:0";
            o.AddStorage("store-b", $"unix:{dir.File("b.sock")}");
            o.BootFileDirectories.Add(Path.GetDirectoryName(Tools.GuestKernel)!);
            o.BootFileDirectories.Add(Path.GetDirectoryName(Tools.GuestInitrd)!);
            configure?.Invoke(o);
        }, logs);
        string disk = dir.File("src-disk.sock");
        var source = await HostWorkerRunner.StartAsync(o =>
        {
            o.StateDirectory = dir.File("src-state");
            o.Peers[destination.HostId] = "127.0.0.1";
            o.AddVm(VmId, new HostVmOptions
            {
                QmpSocket = dir.File("src-qmp.sock"), DiskListen = $"unix:{disk}", StorageId = "store-a",
                Upstream = $"unix:{a.SocketPath}", Export = Export, DefinitionFile = definition,
            });
            configure?.Invoke(o);
        }, logs);
        var qemu = await QemuProcess.StartAsync(dir.File("src-qmp.sock"),
        [
            .. arguments,
            "-blockdev", $"driver=nbd,node-name={DiskNode},server.type=unix,server.path={disk},export={Export},cache.direct=on",
        ]);
        return new WholeVmRig(dir, a, source, destination, qemu);
    }

    public Task<object> DescribeAsync(Guid migration) =>
        Source.Node.Memory.DescribeAsync(new DescribeVm(migration, VmId, Source.HostId), CancellationToken.None);

    public Task<object> PrepareAsync(Guid migration, VmDefinition definition, string storageSocket, MemoryMigrationOptions? memory = null) =>
        Destination.Node.Incoming.PrepareAsync(new PrepareIncomingVm(migration, VmId, Destination.HostId, Source.HostId, definition,
            "store-b", $"unix:{storageSocket}", Export, Memory: memory), CancellationToken.None);

    public Task<object?> MigrateAsync(Guid migration, string endpoint, long? bandwidth, List<MemoryMigrationProgress> progress, MemoryMigrationOptions? memory = null,
        bool continueAtSwitchover = false) =>
        Source.Node.Memory.MigrateAsync(new MigrateVmMemory(migration, VmId, Source.HostId, Destination.HostId, endpoint, bandwidth, memory ?? new MemoryMigrationOptions(),
            ContinueAtSwitchover: continueAtSwitchover),
            p =>
            {
                lock (progress)
                    progress.Add(p);
                return Task.CompletedTask;
            }, CancellationToken.None);

    private static string ReadShared(string path)
    {
        if (!File.Exists(path))
            return "";
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        return new StreamReader(stream).ReadToEnd();
    }

    public async ValueTask DisposeAsync()
    {
        await Qemu.DisposeAsync();
        await Source.DisposeAsync();
        await Destination.DisposeAsync();
        await A.DisposeAsync();
    }
}
