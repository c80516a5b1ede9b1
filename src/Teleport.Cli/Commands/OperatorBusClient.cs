using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Serilog;
using Teleport.Messaging;

namespace Teleport.Cli.Commands;

/// <summary>
/// A short-lived bus for one operator command: started, used to publish or send (RabbitMQ confirms each one), and
/// stopped. An optional receive endpoint lets <c>teleport migrate --wait</c> hear the migration's events.
/// </summary>
public sealed class OperatorBusClient : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(20);
    private readonly ServiceProvider _provider;
    private bool _started;

    private OperatorBusClient(ServiceProvider provider, BusAddress bus)
    {
        _provider = provider;
        Bus = provider.GetRequiredService<IBusControl>();
        Broker = bus;
    }

    public IBusControl Bus { get; }

    public BusAddress Broker { get; }

    public static async Task<OperatorBusClient> StartAsync(
        BusAddress bus, Action<IRabbitMqBusFactoryConfigurator>? endpoints, CancellationToken cancellationToken)
    {
        var services = new ServiceCollection();
        services.AddSerilog(Log.Logger, dispose: false);
        services.AddMassTransit(x =>
        {
            x.DisableUsageTelemetry();
            x.UsingRabbitMq((_, cfg) =>
            {
                bus.ConfigureHost(cfg);
                endpoints?.Invoke(cfg);
            });
        });
        var client = new OperatorBusClient(services.BuildServiceProvider(), bus);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(StartTimeout);
        try
        {
            await client.Bus.StartAsync(timeout.Token);
            client._started = true;
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            await client.DisposeAsync();
            throw new OperatorException($"cannot reach the broker at {bus}: {e.GetBaseException().Message}");
        }

        return client;
    }

    /// <summary>Sends a command to a queue (the orchestrators' shared queue for RetryMigration and CancelMigration).</summary>
    public async Task SendAsync<T>(string queue, T message, CancellationToken cancellationToken)
        where T : class
    {
        var endpoint = await Bus.GetSendEndpoint(new CommandAddresses(Broker.QuorumQueues).For(queue));
        await endpoint.Send(message, cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        if (_started)
        {
            using var stopping = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            await Bus.StopAsync(stopping.Token);
        }

        await _provider.DisposeAsync();
    }
}
