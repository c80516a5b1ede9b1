using System.Net;
using System.Net.Sockets;

namespace Teleport.Cli.Demo;

/// <summary>Names, directories and loopback ports of the demo's workers, all under one work directory.</summary>
public sealed record DemoTopology(string WorkDirectory, int SourceNbdPort, int DestinationNbdPort, int VmDiskPort)
{
    public const string SourceStorageId = "storage-a";
    public const string DestinationStorageId = "storage-b";
    public const string HostId = "host-1";

    /// <summary>The host a whole-VM move (<c>--whole-vm</c>) moves the VM to.</summary>
    public const string DestinationHostId = "host-2";
    public const string VmId = "vm-1";
    public const string VolumeId = "vm-1-disk";

    public string SourceVolumes => Path.Combine(WorkDirectory, SourceStorageId, "volumes");
    public string DestinationVolumes => Path.Combine(WorkDirectory, DestinationStorageId, "volumes");

    /// <summary>Where the destination keeps its golden image (not a volume: it is only read through the index).</summary>
    public string DestinationImages => Path.Combine(WorkDirectory, DestinationStorageId, "images");

    public string DestinationIndex => Path.Combine(WorkDirectory, DestinationStorageId, "index");
    public string Database => Path.Combine(WorkDirectory, "orchestrator.db");
    public string DestinationVolumePath => Path.Combine(DestinationVolumes, VolumeId + ".img");

    /// <summary>host-2's state directory: the incoming QEMU's sockets and its console log.</summary>
    public string DestinationHostState => Path.Combine(WorkDirectory, DestinationHostId);

    public string DestinationConsoleLog => Path.Combine(DestinationHostState, VmId + ".console.log");

    /// <summary>The VM's QEMU definition (machine and devices) host-1 reads for a whole-VM move.</summary>
    public string DefinitionFile => Path.Combine(WorkDirectory, VmId + ".json");

    public string SourceNbd => $"127.0.0.1:{SourceNbdPort}";
    public string DestinationNbd => $"127.0.0.1:{DestinationNbdPort}";
    public string VmDisk => $"127.0.0.1:{VmDiskPort}";
    public IPEndPoint VmDiskEndPoint => new(IPAddress.Loopback, VmDiskPort);

    /// <summary>Creates the directories and picks free loopback ports (the workers advertise them, so port 0 will not do).</summary>
    public static DemoTopology Create(string workDirectory)
    {
        int[] ports = FreePorts(3);
        var topology = new DemoTopology(workDirectory, ports[0], ports[1], ports[2]);
        foreach (string? directory in new[] { topology.SourceVolumes, topology.DestinationVolumes, topology.DestinationImages, topology.DestinationIndex })
            Directory.CreateDirectory(directory);
        return topology;
    }

    // All probes stay bound until every port is picked, so the three differ.
    private static int[] FreePorts(int count)
    {
        var probes = new List<Socket>();
        try
        {
            for (int i = 0; i < count; i++)
            {
                var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                probes.Add(probe);
                probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            }

            return probes.Select(p => ((IPEndPoint)p.LocalEndPoint!).Port).ToArray();
        }
        finally
        {
            foreach (var probe in probes)
                probe.Dispose();
        }
    }
}
