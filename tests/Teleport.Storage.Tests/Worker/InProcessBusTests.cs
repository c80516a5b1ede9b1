using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Teleport.Contracts;
using Teleport.Storage.Worker;

namespace Teleport.Storage.Tests.Worker;

/// <summary>
/// The composable form `teleport demo` uses: two storage worker nodes and the test's saga stand-in on ONE in-memory
/// bus in one container (AddStorageWorkerNode twice, ConfigureStorageWorkerEndpoint per node).
/// </summary>
public sealed class InProcessBusTests : IDisposable
{
    private static readonly Type[] Events =
    [
        typeof(DestinationPrepared), typeof(IndexStreamed), typeof(BlocksRequested), typeof(CopyRoundCompleted),
        typeof(DirtyBelowThreshold), typeof(MigrationCompleted), typeof(TransferAborted), typeof(TransferFailed),
        typeof(VolumeCreated), typeof(VolumeDeleted), typeof(VolumeOperationFailed),
    ];

    private readonly string _root = Directory.CreateTempSubdirectory("teleport-storage-inproc-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public async Task Two_workers_on_one_in_memory_bus_migrate_a_volume_between_each_other()
    {
        var a = Options("a");
        var b = Options("b");
        BusMigrationTests.WriteVolumes(Path.Combine(a.VolumeDirectory, "lamp.img"), null);

        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddStorageWorkerNode(a);
        builder.Services.AddStorageWorkerNode(b);
        Assert.Throws<ArgumentException>(() => builder.Services.AddStorageWorkerNode(Options("a")));
        builder.Services.AddSingleton<EventLog>();
        builder.Services.AddMassTransit(x =>
        {
            x.DisableUsageTelemetry();
            x.UsingInMemory((context, cfg) =>
            {
                cfg.ConfigureStorageWorkerEndpoint(context, "a");
                cfg.ConfigureStorageWorkerEndpoint(context, "b");
                cfg.ReceiveEndpoint("saga-stand-in", e =>
                {
                    foreach (var type in Events)
                        e.Consumer(typeof(RecordingConsumer<>).MakeGenericType(type), t => ActivatorUtilities.CreateInstance(context, t));
                });
            });
        });
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            var nodeA = host.Services.GetRequiredKeyedService<StorageWorkerNode>("a");
            var nodeB = host.Services.GetRequiredKeyedService<StorageWorkerNode>("b");
            Assert.NotSame(nodeA, nodeB);
            Assert.True(nodeA.Volumes.Contains("lamp"));
            var log = host.Services.GetRequiredService<EventLog>();
            var bus = host.Services.GetRequiredService<IBus>();
            async Task Send<T>(string id, T command)
                where T : class =>
                await (await bus.GetSendEndpoint(new Uri($"queue:{WorkerQueues.Storage(id)}"))).Send(command);

            var timeout = TimeSpan.FromSeconds(60);
            var options = new MigrationOptions(BlockSize: 4096);
            var id = Guid.NewGuid();
            await Send("b", new PrepareDestination(id, "lamp", "a", "b", options));
            var prepared = await log.WaitFor<DestinationPrepared>(e => e.MigrationId == id, timeout);
            Assert.Equal(nodeB.Exports.EndPoint!.ToString(), prepared.NbdEndpoint);
            await Send("a", new StartTransfer(id, "lamp", "a", "b", prepared.DataEndpoint, prepared.Secret, prepared.CertificateSha256, options));
            await log.WaitFor<DirtyBelowThreshold>(e => e.MigrationId == id, timeout);
            await Send("a", new FinalSync(id, "lamp", "a"));
            var completed = await log.WaitFor<MigrationCompleted>(e => e.MigrationId == id, timeout);

            Assert.True(completed.Verified);
            Assert.Equal("b", completed.DestinationStorageId);
            Assert.True(nodeB.Volumes.Contains("lamp"));
            Assert.True(BusMigrationTests.FilesEqual(Path.Combine(a.VolumeDirectory, "lamp.img"), Path.Combine(b.VolumeDirectory, "lamp.img")));
            Assert.Empty(log.All<TransferFailed>());

            // The volume commands reach the right node too.
            var request = Guid.NewGuid();
            await Send("a", new CreateVolume(request, "a", "scratch", 1 << 20));
            var created = await log.WaitFor<VolumeCreated>(e => e.RequestId == request, timeout);
            Assert.Equal(("a", "scratch"), (created.StorageId, created.ExportName));
            Assert.True(nodeA.Volumes.Contains("scratch"));
            Assert.False(nodeB.Volumes.Contains("scratch"));
        }
        finally
        {
            await host.StopAsync();
        }
    }

    private StorageWorkerOptions Options(string id) => new()
    {
        StorageId = id,
        VolumeDirectory = Directory.CreateDirectory(Path.Combine(_root, id)).FullName,
        NbdListen = "127.0.0.1:0",
        DataListen = "127.0.0.1:0",
    };
}
