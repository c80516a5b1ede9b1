using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Teleport.Contracts;
using Teleport.Storage.Migrations;
using Teleport.Storage.Volumes;

namespace Teleport.Storage.Worker;

/// <summary>
/// Wiring of a storage worker: <c>services.AddTeleportStorageWorker(options)</c> in a generic host registers the
/// volume store, the NBD exports, the migrations and a MassTransit bus consuming on <c>WorkerQueues.Storage(id)</c>.
/// </summary>
public static class StorageWorkerRegistration
{
    public static IServiceCollection AddTeleportStorageWorker(this IServiceCollection services, IConfiguration configuration)
    {
        var options = new StorageWorkerOptions();
        configuration.GetSection(StorageWorkerOptions.SectionName).Bind(options);
        return services.AddTeleportStorageWorker(options);
    }

    public static IServiceCollection AddTeleportStorageWorker(this IServiceCollection services, StorageWorkerOptions options)
    {
        options.Validate();
        var bus = StorageBus.Parse(options.Bus);
        services.AddSingleton(options);
        services.AddSingleton(_ => new VolumeStore(options.VolumeDirectory));
        services.AddSingleton<VolumeTrackers>();
        services.AddSingleton<NbdExportService>();
        services.AddHostedService(p => p.GetRequiredService<NbdExportService>());

        services.AddMassTransit(x =>
        {
            // A storage server must not call out to MassTransit's usage-telemetry service.
            x.DisableUsageTelemetry();
            x.AddConsumer<StorageCommandConsumer>();
            if (bus.InMemory)
            {
                x.UsingInMemory((context, cfg) => ConfigureQueue(cfg, context, options.StorageId));
            }
            else
            {
                x.UsingRabbitMq((context, cfg) =>
                {
                    var broker = bus.RabbitMq!;
                    cfg.Host(broker.Host, (ushort)(broker.Port > 0 ? broker.Port : 5672), bus.VirtualHost, h =>
                    {
                        h.Username(bus.User);
                        h.Password(bus.Password);
                    });
                    ConfigureQueue(cfg, context, options.StorageId);
                });
            }
        });
        services.Configure<MassTransitHostOptions>(o =>
        {
            o.WaitUntilStarted = true;
            o.StartTimeout = TimeSpan.FromSeconds(60);
            o.StopTimeout = TimeSpan.FromSeconds(30);
        });

        // Registered after the bus, so it stops first: sessions wind down while the bus can still publish.
        services.AddSingleton<StorageMigrations>();
        services.AddHostedService(p => p.GetRequiredService<StorageMigrations>());
        return services;
    }

    private static void ConfigureQueue(IBusFactoryConfigurator cfg, IBusRegistrationContext context, string storageId) =>
        cfg.ReceiveEndpoint(WorkerQueues.Storage(storageId), e =>
        {
            // Commands are sent to this queue, never published: it must not bind to the message exchanges.
            e.ConfigureConsumeTopology = false;
            // Sessions are started in the background, so one command at a time keeps the registry's order simple.
            e.ConcurrentMessageLimit = 1;
            e.ConfigureConsumer<StorageCommandConsumer>(context);
        });
}
