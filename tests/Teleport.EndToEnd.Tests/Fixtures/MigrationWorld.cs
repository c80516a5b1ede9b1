using Microsoft.Extensions.Logging;
using Teleport.Contracts;
using Teleport.Host.Worker;
using Teleport.Orchestrator;
using Teleport.Storage.Worker;

namespace Teleport.EndToEnd.Tests.Fixtures;

/// <summary>
/// Everything a live migration needs, each part real and on the real RabbitMQ: a source storage worker serving
/// volume <see cref="Volume"/>, an empty destination storage worker, a host worker whose path switcher leads VM
/// <see cref="VmId"/>'s disk to the source export, the orchestrator (saga on SQLite), an event watch, and the
/// workload guest booted on the path switcher. Ids carry a random suffix, so runs share the broker safely.
/// Start a migration with <see cref="RequestMigrationAsync"/> and wait with <c>Watch.OutcomeAsync</c>.
/// </summary>
public sealed class MigrationWorld : WorldParts
{
    public const string VmId = "vm1";
    public const string Volume = "vol";
    public const long DefaultVolumeBytes = 32L * 1024 * 1024;

    private MigrationWorld(string root)
        : base(root)
    {
    }

    public StorageNode Source { get; private set; } = null!;

    public StorageNode Destination { get; private set; } = null!;

    public HostNode Host { get; private set; } = null!;

    public OrchestratorNode Orchestrator { get; private set; } = null!;

    public EventWatch Watch { get; private set; } = null!;

    public GuestVm Guest { get; private set; } = null!;

    public string SourceVolume => Source.VolumePath(Volume);

    public string DestinationVolume => Destination.VolumePath(Volume);

    /// <summary>Starts the parts in dependency order; a failure stops what already runs. Logs go to <paramref name="logs"/>, else to TELEPORT_E2E_LOG if set.</summary>
    /// <param name="storage">Adjusts both storage workers' options (e.g. DirtyThresholdBlocks); the id says which one.</param>
    /// <param name="host">Adjusts the host worker's options (e.g. SwitchRetryWindow).</param>
    /// <param name="orchestrator">Adjusts the orchestrator's options (e.g. Settings timeouts).</param>
    /// <param name="bus">How the roles reach the broker; by default the test broker, each role as its own user.</param>
    public static async Task<MigrationWorld> StartAsync(GuestWorkload workload, long volumeBytes = DefaultVolumeBytes, ILoggerProvider? logs = null,
        Action<StorageWorkerOptions>? storage = null, Action<HostWorkerOptions>? host = null, Action<OrchestratorOptions>? orchestrator = null,
        RigBus? bus = null)
    {
        bus ??= RigBus.TestBroker;
        logs ??= FileLogs.FromEnvironment();
        // Short: Unix socket paths must stay under 108 bytes.
        string root = Directory.CreateTempSubdirectory("tpe").FullName;
        var world = new MigrationWorld(root);
        try
        {
            string run = Guid.NewGuid().ToString("N")[..8];
            string sourceDir = Directory.CreateDirectory(Path.Combine(root, "src")).FullName;
            string destinationDir = Directory.CreateDirectory(Path.Combine(root, "dst")).FullName;
            await using (var volume = File.Create(Path.Combine(sourceDir, Volume + ".img")))
                volume.SetLength(volumeBytes);

            Action<StorageWorkerOptions> storageOptions = o =>
            {
                o.Bus = bus.Storage;
                storage?.Invoke(o);
            };
            world.Source = world.Add(await StorageNode.StartAsync($"src-{run}", sourceDir, logs, storageOptions));
            world.Destination = world.Add(await StorageNode.StartAsync($"dst-{run}", destinationDir, logs, storageOptions));
            string qmp = Path.Combine(root, "qmp.sock");
            string disk = Path.Combine(root, "disk.sock");
            var hostOptions = new HostWorkerOptions { HostId = $"host-{run}" }.AddVm(VmId, new HostVmOptions
            {
                QmpSocket = qmp,
                DiskListen = $"unix:{disk}",
                StorageId = world.Source.Id,
                Upstream = world.Source.NbdEndpoint,
                Export = Volume,
            }).AddStorage(world.Destination.Id, world.Destination.NbdEndpoint);
            host?.Invoke(hostOptions);
            world.Host = world.Add(await HostNode.StartAsync(hostOptions, logs, bus.Host));
            if (world.Host.Node.Vms[VmId].Switcher is null)
                throw new InvalidOperationException($"the host worker's path switcher did not come up: {world.Host.Node.Vms[VmId].StartError}");
            world.Orchestrator = world.Add(await OrchestratorNode.StartAsync(root, logs, orchestrator, bus.Orchestrator));
            world.Watch = world.Add(await EventWatch.StartAsync());
            world.Guest = world.Add(await GuestVm.StartAsync(qmp, disk, Volume, workload));
            return world;
        }
        catch
        {
            await world.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Asks this world's orchestrator to migrate the VM's volume, source to destination: MigrationRequested sent to its
    /// queue. (Published, it would reach every orchestrator on the shared broker, and two sagas would drive one VM.)
    /// </summary>
    public async Task<Guid> RequestMigrationAsync(MigrationOptions? options = null)
    {
        var id = Guid.NewGuid();
        var orchestrator = await Watch.Bus.GetSendEndpoint(new Uri($"queue:{Orchestrator.Options.QueueName}"));
        await orchestrator.Send(new MigrationRequested(id, VmId, Volume, Source.Id, Destination.Id, Host.Id, options ?? new MigrationOptions(), DateTimeOffset.UtcNow));
        return id;
    }
}
