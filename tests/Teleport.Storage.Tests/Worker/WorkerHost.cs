using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Teleport.Storage.Migrations;
using Teleport.Storage.Volumes;
using Teleport.Storage.Worker;

namespace Teleport.Storage.Tests.Worker;

/// <summary>A storage worker host in this process, on loopback ports chosen by the system.</summary>
public sealed class WorkerHost : InProcessHost
{
    private WorkerHost(IHost host, StorageWorkerOptions options)
        : base(host)
    {
        Options = options;
    }

    public StorageWorkerOptions Options { get; }

    public string Id => Options.StorageId;

    public StorageWorkerNode Node => Services.GetRequiredKeyedService<StorageWorkerNode>(Id);

    public EndPoint NbdEndPoint => Node.Exports.EndPoint!;

    public VolumeTrackers Volumes => Node.Volumes;

    public StorageMigrations Migrations => Node.Migrations;

    public static async Task<WorkerHost> Start(string id, string volumes, string? index = null, long dirtyThresholdBlocks = 256, ILoggerProvider? logs = null,
        Action<StorageWorkerOptions>? configure = null, Action<IServiceCollection>? services = null)
    {
        var options = new StorageWorkerOptions
        {
            StorageId = id,
            VolumeDirectory = volumes,
            IndexDirectory = index,
            NbdListen = "127.0.0.1:0",
            DataListen = "127.0.0.1:0",
            Bus = TestBroker.Address,
            DirtyThresholdBlocks = dirtyThresholdBlocks,
        };
        configure?.Invoke(options);
        var host = await StartHostAsync(s =>
        {
            services?.Invoke(s);
            s.AddTeleportStorageWorker(options);
        }, logs);
        return new WorkerHost(host, options);
    }
}
