using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Teleport.Messaging;
using Teleport.Orchestrator;
using Teleport.Orchestrator.Persistence;

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

    /// <param name="bus">The orchestrator's Bus setting; by default the test broker as the orchestrator user.</param>
    public static async Task<OrchestratorNode> StartAsync(string directory, ILoggerProvider? logs = null, Action<OrchestratorOptions>? configure = null,
        string? bus = null)
    {
        var options = new OrchestratorOptions
        {
            Database = Path.Combine(directory, "orchestrator.db"),
            QueueName = $"teleport-orchestrator-e2e-{Guid.NewGuid():N}",
        };
        configure?.Invoke(options);
        var host = await StartHostAsync(services => AddOrchestrator(services, options, bus ?? TestBroker.Orchestrator), logs);
        return new OrchestratorNode(host, options);
    }

    /// <summary>Migration <paramref name="id"/>'s saga row as the database holds it now; null before the request arrived.</summary>
    public async Task<MigrationState?> SagaAsync(Guid id)
    {
        await using var db = await new OrchestratorDatabase(Options.Database).OpenAsync(CancellationToken.None);
        return await db.Migrations.AsNoTracking().SingleOrDefaultAsync(m => m.CorrelationId == id);
    }

    // As `teleport orchestrator` wires it: the saga's endpoint by its definition, and the host waits for the bus, so
    // that the saga's bindings exist before anything is published.
    private static void AddOrchestrator(IServiceCollection services, OrchestratorOptions options, string bus)
    {
        services.AddTeleportOrchestrator(options);
        services.AddTeleportBus(BusAddress.Parse(bus, "Orchestrator:Bus"), x => x.AddMigrationSaga(), null, endpointsByDefinition: true);
    }
}
