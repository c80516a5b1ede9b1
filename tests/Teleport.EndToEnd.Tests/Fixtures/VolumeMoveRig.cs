using Microsoft.Extensions.Logging;
using Teleport.Contracts;
using Teleport.Host.Worker;
using Teleport.Messaging;

namespace Teleport.EndToEnd.Tests.Fixtures;

/// <summary>
/// A storage-only move with no guest: a source storage worker holding volume <see cref="Volume"/> (half random data
/// the destination cannot rebuild, half sparse), an empty destination, a host worker whose path switcher leads VM
/// <see cref="VmId"/>'s disk to the source (its hypervisor a <see cref="ConcurrentVm"/>), the orchestrator on a queue
/// of its own, and an event watch. Every part reaches the broker through <see cref="RigBus"/>; ids are random.
/// </summary>
public sealed class VolumeMoveRig : WorldParts
{
    public const string VmId = "vm1";
    public const string Volume = "vol";

    private VolumeMoveRig(string root)
        : base(root)
    {
    }

    public StorageNode Source { get; private set; } = null!;

    public StorageNode Destination { get; private set; } = null!;

    public HostNode Host { get; private set; } = null!;

    public ConcurrentVm Vm { get; } = new();

    public OrchestratorNode Orchestrator { get; private set; } = null!;

    public EventWatch Watch { get; private set; } = null!;

    public long VolumeBytes { get; private init; }

    /// <summary>Where the operator sends a command (by exchange when the rig's queues are quorum queues).</summary>
    public CommandAddresses Commands { get; private init; } = CommandAddresses.Classic;

    /// <summary>Starts the rig; <paramref name="logs"/>, when given, gets every role's log lines.</summary>
    public static async Task<VolumeMoveRig> StartAsync(long volumeBytes, RigBus? bus = null, ILoggerProvider? logs = null)
    {
        bus ??= RigBus.TestBroker;
        var rig = new VolumeMoveRig(Directory.CreateTempSubdirectory("tpv").FullName)
        {
            VolumeBytes = volumeBytes,
            Commands = new CommandAddresses(BusAddress.Parse(bus.Operator, "Operator:Bus").QuorumQueues),
        };
        try
        {
            string run = Guid.NewGuid().ToString("N")[..8];
            string sourceDir = Directory.CreateDirectory(Path.Combine(rig.Root, "src")).FullName;
            string destinationDir = Directory.CreateDirectory(Path.Combine(rig.Root, "dst")).FullName;
            await using (var volume = File.Create(Path.Combine(sourceDir, Volume + ".img")))
            {
                byte[] data = new byte[volumeBytes / 2];
                new Random(16).NextBytes(data);
                await volume.WriteAsync(data);
                volume.SetLength(volumeBytes);
            }

            rig.Source = rig.Add(await StorageNode.StartAsync($"src-{run}", sourceDir, logs, o => o.Bus = bus.Storage));
            rig.Destination = rig.Add(await StorageNode.StartAsync($"dst-{run}", destinationDir, logs, o => o.Bus = bus.Storage));
            var hostOptions = new HostWorkerOptions { HostId = $"host-{run}" }.AddStorage(rig.Destination.Id, rig.Destination.NbdEndpoint).AddVm(VmId, new HostVmOptions
            {
                DiskListen = $"unix:{Path.Combine(rig.Root, "disk.sock")}", StorageId = rig.Source.Id, Upstream = rig.Source.NbdEndpoint, Export = Volume,
            }.UseHypervisor(rig.Vm));
            rig.Host = rig.Add(await HostNode.StartAsync(hostOptions, logs, bus.Host));
            rig.Orchestrator = rig.Add(await OrchestratorNode.StartAsync(rig.Root, logs, bus: bus.Orchestrator));
            rig.Watch = rig.Add(await EventWatch.StartAsync(bus.Operator));
            return rig;
        }
        catch
        {
            await rig.DisposeAsync();
            throw;
        }
    }

    public string SourceVolume => Source.VolumePath(Volume);

    public string DestinationVolume => Destination.VolumePath(Volume);

    /// <summary>Sends MigrationRequested for the rig's VM to its orchestrator's queue; returns the migration id.</summary>
    public Task<Guid> RequestAsync(MigrationOptions? options = null) =>
        OrchestratorRequests.SendAsync(Watch.Bus, Orchestrator.Options.QueueName, VmId, Volume, Source.Id, Destination.Id, Host.Id, options, Commands);

    /// <summary>Asserts the move's real result: the VM runs on the destination's export, which equals the source.</summary>
    public async Task AssertMovedAsync()
    {
        Assert.Equal(Destination.Id, Host.Node.Vms[VmId].CurrentStorageId);
        Assert.True(Vm.Running, "the VM is not running after the move");
        Assert.Equal(await File.ReadAllBytesAsync(SourceVolume), await File.ReadAllBytesAsync(DestinationVolume));
    }
}

/// <summary>Each role's Bus setting for a <see cref="VolumeMoveRig"/>.</summary>
public sealed record RigBus(string Storage, string Host, string Orchestrator, string Operator)
{
    /// <summary>The test broker, each role as its own user.</summary>
    public static RigBus TestBroker => new(Testing.TestBroker.Storage, Testing.TestBroker.Host, Testing.TestBroker.Orchestrator, Testing.TestBroker.Operator);

    /// <summary>One address for every role.</summary>
    public static RigBus All(string address) => new(address, address, address, address);

    /// <summary>The test broker, each role as its own user, reached through <paramref name="relay"/> (a broker the test can stop for everyone).</summary>
    public static RigBus Through(System.Net.IPEndPoint relay)
    {
        var broker = TestBroker;
        return new(Via(broker.Storage, relay), Via(broker.Host, relay), Via(broker.Orchestrator, relay), Via(broker.Operator, relay));
    }

    private static string Via(string address, System.Net.IPEndPoint relay) =>
        new UriBuilder(address) { Host = relay.Address.ToString(), Port = relay.Port }.Uri.ToString();
}
