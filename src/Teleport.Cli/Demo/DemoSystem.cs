using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Serilog;
using Teleport.Cli.Hosting;
using Teleport.Host.Worker;
using Teleport.Messaging;
using Teleport.Orchestrator;
using Teleport.Storage.DirtyTracking;
using Teleport.Storage.Worker;

namespace Teleport.Cli.Demo;

/// <summary>
/// The whole system in one generic host on ONE in-memory MassTransit bus: two storage workers, a host worker whose
/// VM is <see cref="WritingVm"/> or the QEMU guest, the orchestrator with its saga in SQLite, and the demo's own watch endpoint.
/// The in-memory transport is per bus, so every party must sit on this one (each worker is a node of services plus a receive endpoint configured on the bus being built).
/// </summary>
public static class DemoSystem
{
    /// <summary>
    /// The host; <paramref name="control"/> says how the host worker controls the VM (<c>o.UseHypervisor(writer)</c>, or a QMP socket).
    /// With <paramref name="wholeVm"/> (the guest's QEMU and boot files) a second host worker, host-2, may start the VM's incoming QEMU.
    /// </summary>
    public static IHost Build(DemoTopology topology, Func<HostVmOptions, HostVmOptions> control, MigrationWatch watch, Serilog.ILogger logger,
        GuestImage? wholeVm = null)
    {
        var builder = RoleConfiguration.CreateBuilder("teleport-demo");
        builder.Services.AddSerilog(logger, dispose: false);

        // Registration order is start order: the storage workers serve their volumes before the host's path
        // switcher connects to the source, and the bus starts last.
        builder.Services.AddStorageWorkerNode(Storage(DemoTopology.SourceStorageId, topology.SourceVolumes, topology.SourceNbd, index: null));
        builder.Services.AddStorageWorkerNode(Storage(DemoTopology.DestinationStorageId, topology.DestinationVolumes, topology.DestinationNbd,
            topology.DestinationIndex));
        var source = new HostWorkerOptions
        {
            HostId = DemoTopology.HostId,
            StartRetryInterval = TimeSpan.FromMilliseconds(200),
        }.AddStorage(DemoTopology.DestinationStorageId, topology.DestinationNbd).AddVm(DemoTopology.VmId, control(new HostVmOptions
        {
            DiskListen = topology.VmDisk,
            StorageId = DemoTopology.SourceStorageId,
            Upstream = topology.SourceNbd,
            Export = DemoTopology.VolumeId,
        }));
        var destination = wholeVm is null ? null : DestinationHost(topology, wholeVm);
        if (destination is not null)
            source.Peers[destination.HostId] = "127.0.0.1"; // the memory stream goes only to a peer the source knows
        builder.Services.AddHostWorkerNode(source);
        if (destination is not null)
            builder.Services.AddHostWorkerNode(destination);
        builder.Services.AddTeleportOrchestrator(new OrchestratorOptions { Database = topology.Database });

        builder.Services.AddTeleportBus(BusAddress.Parse("memory", "demo bus"), x => x.AddMigrationSaga(), (context, cfg) =>
        {
            cfg.ConfigureStorageWorkerEndpoint(context, DemoTopology.SourceStorageId);
            cfg.ConfigureStorageWorkerEndpoint(context, DemoTopology.DestinationStorageId);
            cfg.ConfigureHostWorkerEndpoint(context, DemoTopology.HostId);
            if (destination is not null)
                cfg.ConfigureHostWorkerEndpoint(context, destination.HostId);
            watch.ConfigureEndpoint(cfg);
        }, endpointsByDefinition: true);
        return builder.Build();
    }

    /// <summary>host-2: starts the incoming QEMU from the definition the saga carries, its disk on storage-b, memory on loopback.</summary>
    private static HostWorkerOptions DestinationHost(DemoTopology topology, GuestImage guest)
    {
        var options = new HostWorkerOptions
        {
            HostId = DemoTopology.DestinationHostId,
            StateDirectory = topology.DestinationHostState,
            QemuBinary = guest.Qemu,
            MigrationListen = "127.0.0.1:0",
            StartRetryInterval = TimeSpan.FromMilliseconds(200),
        }.AddStorage(DemoTopology.DestinationStorageId, topology.DestinationNbd);
        // A definition may boot only files from directories this host allows: the guest's kernel and initramfs.
        options.BootFileDirectories.Add(Path.GetDirectoryName(guest.Kernel)!);
        options.BootFileDirectories.Add(Path.GetDirectoryName(guest.Initrd)!);
        return options;
    }

    /// <summary>A storage worker of the demo: data channel on loopback, writes tracked in userspace, quick to stop.</summary>
    private static StorageWorkerOptions Storage(string id, string volumes, string nbdListen, string? index) => new()
    {
        StorageId = id,
        VolumeDirectory = volumes,
        IndexDirectory = index,
        NbdListen = nbdListen,
        DataListen = "127.0.0.1:0",
        DirtyTracking = DirtyTrackingMode.Userspace,
        StopTimeout = TimeSpan.FromSeconds(5),
        // The demo checks the destination against the source volume after the move: keep it a volume.
        RetentionPeriod = TimeSpan.Zero,
    };
}
