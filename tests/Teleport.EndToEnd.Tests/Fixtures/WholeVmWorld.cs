using System.Text.Json;
using System.Text.RegularExpressions;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Teleport.Contracts;
using Teleport.Host.Worker;
using Teleport.Orchestrator;

namespace Teleport.EndToEnd.Tests.Fixtures;

/// <summary>
/// Everything a whole-VM move needs, each part real on the real RabbitMQ: two storage workers (the source serving
/// volume <see cref="MigrationWorld.Volume"/>), two host workers (the source running the test guest in QEMU with its
/// disk behind its path switcher and its definition in a file; the destination starting incoming QEMUs from what the
/// saga carries), the orchestrator and an event watch. Ids carry a random suffix, so runs share the broker safely.
/// </summary>
public sealed partial class WholeVmWorld : WorldParts
{
    public const string DiskNode = "disk0";

    private WholeVmWorld(string root)
        : base(root)
    {
    }

    public StorageNode Source { get; private set; } = null!;

    public StorageNode Destination { get; private set; } = null!;

    public HostNode SourceHost { get; private set; } = null!;

    public HostNode DestinationHost { get; private set; } = null!;

    public OrchestratorNode Orchestrator { get; private set; } = null!;

    public EventWatch Watch { get; private set; } = null!;

    /// <summary>The source QEMU running the guest.</summary>
    public QemuProcess Guest { get; private set; } = null!;

    public string SourceVolume => Source.VolumePath(MigrationWorld.Volume);

    public string DestinationVolume => Destination.VolumePath(MigrationWorld.Volume);

    /// <summary>The incoming (then running) QEMU's console, as the destination host worker keeps it.</summary>
    public string DestinationConsole
    {
        get
        {
            string path = Path.Combine(DestinationHost.Options.StateDirectory, MigrationWorld.VmId + ".console.log");
            if (!File.Exists(path))
                return "";
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            return new StreamReader(stream).ReadToEnd();
        }
    }

    /// <summary>Kills the destination host's incoming QEMU (found by its QMP socket in the host's state directory).</summary>
    /// <returns>False when there is none.</returns>
    private bool KillIncomingQemu()
    {
        string qmp = Path.Combine(DestinationHost.Options.StateDirectory, MigrationWorld.VmId + ".qmp");
        foreach (string dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid))
                continue;
            string commandLine;
            try
            {
                commandLine = File.ReadAllText(Path.Combine(dir, "cmdline"));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue;
            }

            if (!commandLine.Contains($"unix:{qmp},", StringComparison.Ordinal))
                continue;
            using var qemu = System.Diagnostics.Process.GetProcessById(pid);
            qemu.Kill();
            qemu.WaitForExit();
            return true;
        }

        return false;
    }

    /// <summary>Kills the incoming QEMU just before <paramref name="host"/> consumes its first <typeparamref name="T"/>.</summary>
    public BeforeFirstConsume<T> KillIncomingQemuBefore<T>(HostNode host)
        where T : class => new(host.Services.GetRequiredService<IBus>(), () => Task.FromResult(KillIncomingQemu()));

    /// <summary>The last record a console reports (-1 before the first).</summary>
    public static long LastProgress(string console) =>
        ProgressLine().Matches(console).Select(m => long.Parse(m.Groups[1].Value)).DefaultIfEmpty(-1).Last();

    /// <summary>Every record number a console reports, in order.</summary>
    public static List<long> Progress(string console) =>
        [.. ProgressLine().Matches(console).Select(m => long.Parse(m.Groups[1].Value))];

    /// <param name="destinationHost">Adjusts the destination host worker's options (e.g. a QEMU that cannot start).</param>
    public static async Task<WholeVmWorld> StartAsync(GuestWorkload workload, ILoggerProvider? logs = null, Action<OrchestratorOptions>? orchestrator = null,
        Action<HostWorkerOptions>? destinationHost = null)
    {
        logs ??= FileLogs.FromEnvironment();
        string root = Directory.CreateTempSubdirectory("tpw").FullName;
        var world = new WholeVmWorld(root);
        try
        {
            string run = Guid.NewGuid().ToString("N")[..8];
            string sourceDir = Directory.CreateDirectory(Path.Combine(root, "src")).FullName;
            string destinationDir = Directory.CreateDirectory(Path.Combine(root, "dst")).FullName;
            await using (var volume = File.Create(Path.Combine(sourceDir, MigrationWorld.Volume + ".img")))
                volume.SetLength(MigrationWorld.DefaultVolumeBytes);
            world.Source = world.Add(await StorageNode.StartAsync($"src-{run}", sourceDir, logs));
            world.Destination = world.Add(await StorageNode.StartAsync($"dst-{run}", destinationDir, logs));

            var destination = new HostWorkerOptions
            {
                HostId = $"hostb-{run}", StateDirectory = Path.Combine(root, "hostb"), QemuBinary = TestEnvironment.QemuSystem,
                MigrationListen = "127.0.0.1:0",
            }.AddStorage(world.Destination.Id, world.Destination.NbdEndpoint);
            destination.BootFileDirectories.Add(Path.GetDirectoryName(TestEnvironment.GuestKernel)!);
            destination.BootFileDirectories.Add(Path.GetDirectoryName(TestEnvironment.GuestInitrd)!);
            destinationHost?.Invoke(destination);
            world.DestinationHost = world.Add(await HostNode.StartAsync(destination, logs));

            var arguments = GuestArguments(workload);
            string definition = Path.Combine(root, "vm1.json");
            await File.WriteAllTextAsync(definition, JsonSerializer.Serialize(new { arguments, diskNodeName = DiskNode }));
            string qmp = Path.Combine(root, "qmp.sock"), disk = Path.Combine(root, "disk.sock");
            // Its own state directory: the memory relay's socket is there, not in a /tmp shared with other runs.
            var source = new HostWorkerOptions { HostId = $"hosta-{run}", StateDirectory = Path.Combine(root, "hosta") }.AddVm(MigrationWorld.VmId, new HostVmOptions
            {
                QmpSocket = qmp, DiskListen = $"unix:{disk}", StorageId = world.Source.Id, Upstream = world.Source.NbdEndpoint,
                Export = MigrationWorld.Volume, DefinitionFile = definition,
            }).AddStorage(world.Destination.Id, world.Destination.NbdEndpoint);
            source.Peers[destination.HostId] = "127.0.0.1";
            world.SourceHost = world.Add(await HostNode.StartAsync(source, logs));

            world.Orchestrator = world.Add(await OrchestratorNode.StartAsync(root, logs, orchestrator));
            world.Watch = world.Add(await EventWatch.StartAsync());
            world.Guest = world.Add(await QemuProcess.StartAsync(qmp,
            [
                .. arguments,
                "-blockdev", $"driver=nbd,node-name={DiskNode},server.type=unix,server.path={disk},export={MigrationWorld.Volume},cache.direct=on",
            ]));
            return world;
        }
        catch
        {
            await world.DisposeAsync();
            throw;
        }
    }

    // The test guest's machine and devices: what the VM's definition file holds (the disk is added by each host).
    private static List<string> GuestArguments(GuestWorkload workload) =>
    [
        "-machine", "q35", "-m", "262136k", "-smp", "1", "-nodefaults", "-nographic", "-no-reboot", "-serial", "stdio",
        "-accel", "tcg", "-cpu", "max", "-kernel", TestEnvironment.GuestKernel, "-initrd", TestEnvironment.GuestInitrd,
        "-append", $"console=ttyS0 panic=-1 quiet loglevel=4 guest.count={workload.Records} guest.every={workload.ProgressEvery} " +
            $"guest.run={workload.Run} guest.delay={workload.DelayMicroseconds} guest.hold={workload.HoldSeconds} guest.dirty={workload.DirtyMiB}",
        "-device", $"virtio-blk-pci,drive={DiskNode}",
    ];

    /// <summary>Asks this world's orchestrator for a whole-VM move to the destination host.</summary>
    public async Task<Guid> RequestMoveAsync(MigrationOptions? options = null)
    {
        var id = Guid.NewGuid();
        var orchestrator = await Watch.Bus.GetSendEndpoint(new Uri($"queue:{Orchestrator.Options.QueueName}"));
        await orchestrator.Send(new MigrationRequested(id, MigrationWorld.VmId, MigrationWorld.Volume, Source.Id, Destination.Id, SourceHost.Id,
            options ?? new MigrationOptions(), DateTimeOffset.UtcNow, DestinationHost.Id));
        return id;
    }

    [GeneratedRegex(@"TPW seq=(\d+)")]
    private static partial Regex ProgressLine();
}
