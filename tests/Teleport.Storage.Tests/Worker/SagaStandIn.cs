using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Teleport.Contracts;
using Teleport.Storage.Worker;

namespace Teleport.Storage.Tests.Worker;

/// <summary>
/// Plays the saga's part on the real broker: sends commands to a storage worker's queue and records every event the
/// workers publish (on a queue of its own, deleted when it stops).
/// </summary>
public sealed class SagaStandIn : IAsyncDisposable
{
    private static readonly Type[] Events =
    [
        typeof(DestinationPrepared), typeof(IndexStreamed), typeof(BlocksRequested), typeof(CopyRoundCompleted),
        typeof(DirtyBelowThreshold), typeof(MigrationCompleted), typeof(TransferAborted), typeof(TransferFailed),
        typeof(VolumeCreated), typeof(VolumeDeleted), typeof(VolumeOperationFailed),
    ];

    private readonly ServiceProvider _services;

    private SagaStandIn(ServiceProvider services, IBusControl bus)
    {
        _services = services;
        Bus = bus;
    }

    public IBusControl Bus { get; }

    public EventLog Log => _services.GetRequiredService<EventLog>();

    public static async Task<SagaStandIn> Start()
    {
        var services = new ServiceCollection();
        services.AddSingleton<EventLog>();
        services.AddMassTransit(x =>
        {
            x.DisableUsageTelemetry();
            x.UsingRabbitMq((context, cfg) =>
            {
                cfg.UseTestBroker();
                cfg.ReceiveEndpoint($"storage-tests-saga-{Guid.NewGuid():N}", e =>
                {
                    e.AutoDelete = true;
                    e.Durable = false;
                    foreach (var type in Events)
                        e.Consumer(typeof(RecordingConsumer<>).MakeGenericType(type), t => ActivatorUtilities.CreateInstance(context, t));
                });
            });
        });
        var provider = services.BuildServiceProvider();
        var bus = provider.GetRequiredService<IBusControl>();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await (await bus.StartAsync(cts.Token)).Ready.WaitAsync(cts.Token);
        return new SagaStandIn(provider, bus);
    }

    public async Task Send<T>(string storageId, T command)
        where T : class
    {
        var endpoint = await Bus.GetSendEndpoint(new Uri($"queue:{WorkerQueues.Storage(storageId)}"));
        await endpoint.Send(command);
    }

    public async ValueTask DisposeAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await Bus.StopAsync(cts.Token);
        await _services.DisposeAsync();
    }
}
