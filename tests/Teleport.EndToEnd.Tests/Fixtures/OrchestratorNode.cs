using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Teleport.Orchestrator;

namespace Teleport.EndToEnd.Tests.Fixtures;

/// <summary>
/// The real orchestrator (AddTeleportOrchestrator + AddMigrationSaga) on the test broker, saga state in a SQLite file
/// of the caller's directory, on a queue of its own so parallel runs on the same broker do not share sagas.
/// </summary>
public sealed class OrchestratorNode : InProcessHost
{
    private OrchestratorNode(IHost host, OrchestratorOptions options)
        : base(host)
    {
        Options = options;
    }

    public OrchestratorOptions Options { get; }

    public static async Task<OrchestratorNode> StartAsync(string directory, ILoggerProvider? logs = null, Action<OrchestratorOptions>? configure = null)
    {
        var options = new OrchestratorOptions
        {
            Database = Path.Combine(directory, "orchestrator.db"),
            QueueName = $"teleport-orchestrator-e2e-{Guid.NewGuid():N}",
        };
        configure?.Invoke(options);
        var host = await StartHostAsync(services => AddOrchestrator(services, options), logs);
        return new OrchestratorNode(host, options);
    }

    private static void AddOrchestrator(IServiceCollection services, OrchestratorOptions options)
    {
        services.AddTeleportOrchestrator(options);
        services.AddMassTransit(x =>
        {
            x.DisableUsageTelemetry();
            x.AddMigrationSaga();
            x.UsingRabbitMq((context, cfg) =>
            {
                cfg.UseTestBroker(TestBroker.Orchestrator);
                cfg.ConfigureEndpoints(context);
            });
        });
        // The saga's bindings must exist before anything is published.
        services.Configure<MassTransitHostOptions>(o => o.WaitUntilStarted = true);
    }
}
