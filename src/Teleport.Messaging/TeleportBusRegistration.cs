using MassTransit;
using Microsoft.Extensions.DependencyInjection;

namespace Teleport.Messaging;

/// <summary>The one way a Teleport role process gets its MassTransit bus.</summary>
public static class TeleportBusRegistration
{
    /// <summary>
    /// Adds a bus on <paramref name="bus"/> (in-memory or RabbitMQ) with MassTransit's usage telemetry off (a
    /// Teleport process never calls out to a third-party service), <paramref name="register"/> for consumers and
    /// sagas, <paramref name="endpoints"/> for receive endpoints of its own, and, with
    /// <paramref name="endpointsByDefinition"/>, an endpoint per registered consumer or saga as its definition
    /// says. The host waits for the bus to start.
    /// </summary>
    public static IServiceCollection AddTeleportBus(
        this IServiceCollection services,
        BusAddress bus,
        Action<IBusRegistrationConfigurator>? register,
        Action<IBusRegistrationContext, IBusFactoryConfigurator>? endpoints,
        bool endpointsByDefinition = false)
    {
        services.AddSingleton(new CommandAddresses(bus.QuorumQueues));
        services.AddMassTransit(x =>
        {
            x.DisableUsageTelemetry();
            register?.Invoke(x);
            if (bus.InMemory)
            {
                x.UsingInMemory((context, cfg) =>
                {
                    endpoints?.Invoke(context, cfg);
                    if (endpointsByDefinition)
                        cfg.ConfigureEndpoints(context);
                });
            }
            else
            {
                x.UsingRabbitMq((context, cfg) =>
                {
                    bus.ConfigureHost(cfg);
                    if (bus.QuorumQueues)
                        cfg.ConnectEndpointConfigurationObserver(new QuorumQueueObserver());
                    endpoints?.Invoke(context, cfg);
                    if (endpointsByDefinition)
                        cfg.ConfigureEndpoints(context);
                });
            }
        });
        services.Configure<MassTransitHostOptions>(o =>
        {
            o.WaitUntilStarted = true;
            o.StartTimeout = TimeSpan.FromSeconds(60);
            o.StopTimeout = TimeSpan.FromSeconds(30);
        });
        return services;
    }
}
