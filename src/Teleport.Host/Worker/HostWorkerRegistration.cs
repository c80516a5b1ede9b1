using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Teleport.Contracts;
using Teleport.Messaging;

namespace Teleport.Host.Worker;

/// <summary>
/// Wiring of a host worker. Standalone: <c>services.AddTeleportHostWorker(options)</c> (node + its own bus). Composed
/// with other workers on one bus: <c>services.AddHostWorkerNode(options)</c> and, while configuring that bus,
/// <c>cfg.ConfigureHostWorkerEndpoint(context, hostId)</c>.
/// </summary>
public static class HostWorkerRegistration
{
    /// <summary>The node plus a MassTransit bus (in-memory or RabbitMQ per <see cref="HostWorkerOptions.Bus"/>) consuming on its queue.</summary>
    public static IServiceCollection AddTeleportHostWorker(this IServiceCollection services, HostWorkerOptions options)
    {
        services.AddHostWorkerNode(options);
        services.AddTeleportBus(BusAddress.Parse(options.Bus, "Host:Bus"), null,
            (context, cfg) => cfg.ConfigureHostWorkerEndpoint(context, options.HostId));
        return services;
    }

    /// <summary>
    /// Registers one host worker's node (keyed by its HostId) without a bus; its VMs start and stop with the host.
    /// Several nodes may share a container. Publishes through the container's <see cref="IBus"/>.
    /// </summary>
    /// <exception cref="ArgumentException">A bad setting (named), or a second node with the same HostId.</exception>
    public static IServiceCollection AddHostWorkerNode(this IServiceCollection services, HostWorkerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (services.Any(d => d.IsKeyedService && d.ServiceType == typeof(HostWorkerNode) && Equals(d.ServiceKey, options.HostId)))
            throw new ArgumentException($"host worker '{options.HostId}' is registered twice");
        services.AddKeyedSingleton(options.HostId, (provider, _) => new HostWorkerNode(options, provider,
            provider.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance, provider.GetService<TimeProvider>() ?? TimeProvider.System));
        // Not AddHostedService: it keeps one registration per implementation type, and each node must start.
        services.AddSingleton<IHostedService>(provider => provider.GetRequiredKeyedService<HostWorkerNode>(options.HostId));
        return services;
    }

    /// <summary>Configures the receive endpoint of host <paramref name="hostId"/> (registered with AddHostWorkerNode) on the bus being built.</summary>
    public static void ConfigureHostWorkerEndpoint(this IBusFactoryConfigurator cfg, IBusRegistrationContext context, string hostId)
    {
        // The registration context does not resolve keyed services itself; the container behind it does.
        var node = context.GetRequiredService<IServiceProvider>().GetRequiredKeyedService<HostWorkerNode>(hostId);
        cfg.ReceiveEndpoint(WorkerQueues.Host(hostId), e =>
        {
            // Commands are sent to this queue, never published: it must not bind to the message exchanges.
            e.ConfigureConsumeTopology = false;
            e.ConcurrentMessageLimit = node.Options.ConcurrentCommands;
            e.Consumer(() => new HostCommandConsumer(node));
        });
    }
}
