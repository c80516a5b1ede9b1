using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Teleport.Storage.Worker;

namespace Teleport.EndToEnd.Tests.Fixtures;

/// <summary>A standalone storage worker (its own bus on the test broker) serving VolumeDirectory over NBD on a fixed loopback port.</summary>
public sealed class StorageNode : InProcessHost
{
    private StorageNode(IHost host, StorageWorkerOptions options, int nbdPort)
        : base(host)
    {
        Options = options;
        NbdPort = nbdPort;
    }

    public StorageWorkerOptions Options { get; }

    public string Id => Options.StorageId;

    public int NbdPort { get; }

    /// <summary>Where VM hosts reach this worker's exports.</summary>
    public string NbdEndpoint => $"127.0.0.1:{NbdPort}";

    public string VolumePath(string volume) => Path.Combine(Options.VolumeDirectory, volume + ".img");

    public static async Task<StorageNode> StartAsync(string id, string volumeDirectory, ILoggerProvider? logs = null, Action<StorageWorkerOptions>? configure = null)
    {
        int port = FreePort.Next();
        var options = new StorageWorkerOptions
        {
            StorageId = id,
            VolumeDirectory = volumeDirectory,
            NbdListen = $"127.0.0.1:{port}",
            DataListen = "127.0.0.1:0",
            Bus = TestBroker.Storage,
            // These tests compare the source volume with the destination's after a move: it stays a volume.
            RetentionPeriod = TimeSpan.Zero,
        };
        configure?.Invoke(options);
        var host = await StartHostAsync(services => services.AddTeleportStorageWorker(options), logs);
        return new StorageNode(host, options, port);
    }
}
