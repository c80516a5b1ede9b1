using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Teleport.Contracts;
using Teleport.Messaging;

namespace Teleport.Storage.Worker;

/// <summary>
/// Wiring of storage workers. Two layers (docs/storage.md): <see cref="AddStorageWorkerNode"/> registers one worker's
/// services without a bus (several per container, keyed by StorageId) and <see cref="ConfigureStorageWorkerEndpoint"/>
/// puts its queue on the bus being built; <see cref="AddTeleportStorageWorker(IServiceCollection, StorageWorkerOptions)"/>
/// is both plus a bus of its own (in-memory or RabbitMQ).
/// </summary>
public static class StorageWorkerRegistration
{
    /// <summary>
    /// Registers one storage worker node (no bus): <c>GetRequiredKeyedService&lt;StorageWorkerNode&gt;(storageId)</c>
    /// resolves it, and it starts and stops with the host. Its events go to the container's <c>IBus</c>.
    /// </summary>
    public static IServiceCollection AddStorageWorkerNode(this IServiceCollection services, StorageWorkerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        string id = options.StorageId;
        if (services.Any(d => d.ServiceType == typeof(StorageWorkerNodeRegistration) && ((StorageWorkerNodeRegistration?)d.ImplementationInstance)?.Options.StorageId == id))
            throw new ArgumentException($"a storage worker '{id}' is already registered in this container");
        services.AddSingleton(new StorageWorkerNodeRegistration(options));
        services.TryAddSingleton<StorageWorkerNodes>();
        services.AddKeyedSingleton(id, (p, _) => p.GetRequiredService<StorageWorkerNodes>().Get(id));
        // Not AddHostedService: it would keep only the first of several registrations of the same type.
        services.AddSingleton<IHostedService>(p => p.GetRequiredService<StorageWorkerNodes>().Get(id));
        return services;
    }

    /// <summary>
    /// The receive endpoint of node <paramref name="storageId"/> on the bus being configured: queue
    /// <c>WorkerQueues.Storage(storageId)</c>, consume topology off (commands are sent, never published), one command at
    /// a time, consumers bound to that node.
    /// </summary>
    public static void ConfigureStorageWorkerEndpoint(this IBusFactoryConfigurator cfg, IBusRegistrationContext context, string storageId)
    {
        var node = context.GetRequiredService<StorageWorkerNodes>().Get(storageId);
        cfg.ReceiveEndpoint(WorkerQueues.Storage(storageId), e =>
        {
            e.ConfigureConsumeTopology = false;
            // Sessions are started in the background, so one command at a time keeps the registry's order simple.
            e.ConcurrentMessageLimit = 1;
            e.Consumer(node.CommandConsumer);
            e.Consumer(node.VolumeConsumer);
        });
    }

    public static IServiceCollection AddTeleportStorageWorker(this IServiceCollection services, IConfiguration configuration)
    {
        var options = new StorageWorkerOptions();
        configuration.GetSection(StorageWorkerOptions.SectionName).Bind(options);
        return services.AddTeleportStorageWorker(options);
    }

    /// <summary>A standalone storage worker: the node and a MassTransit bus of its own (Storage:Bus) consuming on its queue.</summary>
    public static IServiceCollection AddTeleportStorageWorker(this IServiceCollection services, StorageWorkerOptions options)
    {
        options.Validate();
        services.AddStorageWorkerNode(options);
        services.AddTeleportBus(BusAddress.Parse(options.Bus, "Storage:Bus"), null,
            (context, cfg) => cfg.ConfigureStorageWorkerEndpoint(context, options.StorageId));
        return services;
    }
}
