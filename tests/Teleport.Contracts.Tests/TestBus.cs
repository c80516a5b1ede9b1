using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using RabbitMQ.Client;

namespace Teleport.Contracts.Tests;

/// <summary>
/// A MassTransit bus on the test broker whose exchanges and queues all carry a prefix unique to this bus, so
/// concurrent tests (and the other test projects sharing the broker) never see each other's messages.
/// Disposing it stops the bus and deletes what it declared.
/// </summary>
public sealed class TestBus : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private readonly ServiceProvider _services;
    private readonly IEntityNameFormatter _names;
    private readonly List<string> _queues;

    private TestBus(ServiceProvider services, IBusControl bus, IEntityNameFormatter names, string prefix, List<string> queues)
    {
        _services = services;
        Bus = bus;
        _names = names;
        Prefix = prefix;
        _queues = queues;
    }

    public IBusControl Bus { get; }

    public string Prefix { get; }

    public ReceivedMessages Received => _services.GetRequiredService<ReceivedMessages>();

    /// <summary>The name of the fanout exchange MassTransit publishes T to on this bus.</summary>
    public string ExchangeFor(Type messageType) =>
        (string)typeof(IEntityNameFormatter).GetMethod(nameof(IEntityNameFormatter.FormatEntityName))!
            .MakeGenericMethod(messageType).Invoke(_names, null)!;

    /// <summary>
    /// Starts a bus with an event endpoint consuming every given event type (published, fanned out to it) and a
    /// storage worker endpoint on WorkerQueues.Storage(storageId) consuming every given command type.
    /// </summary>
    public static async Task<TestBus> Start(IReadOnlyList<Type> events, string storageId, IReadOnlyList<Type> commands)
    {
        var broker = TestBroker.Uri;
        string prefix = $"contracts-test-{Guid.NewGuid():N}";
        string eventQueue = $"{prefix}-events";
        string workerQueue = WorkerQueues.Storage(storageId);
        IEntityNameFormatter? names = null;

        var services = new ServiceCollection();
        services.AddSingleton<ReceivedMessages>();
        services.AddMassTransit(x =>
        {
            x.DisableUsageTelemetry();
            x.UsingRabbitMq((context, cfg) =>
            {
                cfg.UseTestBroker();
                names = new PrefixEntityNameFormatter(cfg.MessageTopology.EntityNameFormatter, prefix + ".");
                cfg.MessageTopology.SetEntityNameFormatter(names);

                cfg.ReceiveEndpoint(eventQueue, e =>
                {
                    foreach (var type in events)
                    {
                        e.Consumer(typeof(RecordingConsumer<>).MakeGenericType(type), t => ActivatorUtilities.CreateInstance(context, t));
                    }
                });
                cfg.ReceiveEndpoint(workerQueue, e =>
                {
                    // Commands are sent, never published: the worker queue must not bind to message exchanges.
                    e.ConfigureConsumeTopology = false;
                    foreach (var type in commands)
                    {
                        e.Consumer(typeof(RecordingConsumer<>).MakeGenericType(type), t => ActivatorUtilities.CreateInstance(context, t));
                    }
                });
            });
        });

        var provider = services.BuildServiceProvider();
        var bus = provider.GetRequiredService<IBusControl>();
        try
        {
            using var cts = new CancellationTokenSource(StartTimeout);
            var handle = await bus.StartAsync(cts.Token);
            await handle.Ready.WaitAsync(cts.Token);
        }
        catch (Exception ex)
        {
            await provider.DisposeAsync();
            throw new InvalidOperationException($"The MassTransit bus did not start on RabbitMQ at {broker.Host}:{broker.Port}: {ex.Message}", ex);
        }

        return new TestBus(provider, bus, names ?? throw new InvalidOperationException("the RabbitMQ bus was not configured"), prefix, [eventQueue, workerQueue]);
    }

    /// <summary>Opens a plain AMQP channel to the test broker (to inspect or delete what the bus declared).</summary>
    public static async Task<(IConnection Connection, IChannel Channel)> OpenChannel()
    {
        var factory = new ConnectionFactory { Uri = TestBroker.Uri };
        var connection = await factory.CreateConnectionAsync();
        return (connection, await connection.CreateChannelAsync());
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await Bus.StopAsync(cts.Token);
        }
        finally
        {
            await _services.DisposeAsync();
            await DeleteEntities();
        }
    }

    private async Task DeleteEntities()
    {
        var (connection, channel) = await OpenChannel();
        await using (connection)
        await using (channel)
        {
            // MassTransit moves faulted messages to NAME_error and unconsumable ones to NAME_skipped.
            foreach (string? queue in _queues.SelectMany(q => new[] { q, q + "_error", q + "_skipped" }))
            {
                await channel.QueueDeleteAsync(queue);
                await channel.ExchangeDeleteAsync(queue);
            }

            foreach (var type in ContractTypes.Records)
            {
                await channel.ExchangeDeleteAsync(ExchangeFor(type));
            }
        }
    }
}
