using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Teleport.Orchestrator.Persistence;

namespace Teleport.Cli.Hosting.Http;

/// <summary>An orchestrator is ready when its saga store (SQLite or PostgreSQL) takes a connection.</summary>
public static class OrchestratorReadiness
{
    public static void Add(IHealthChecksBuilder checks) =>
        checks.AddReadiness("database", (services, cancellationToken) => DatabaseAsync(services.GetRequiredService<OrchestratorDatabase>(), cancellationToken));

    private static async Task<HealthCheckResult> DatabaseAsync(OrchestratorDatabase database, CancellationToken cancellationToken)
    {
        var data = new Dictionary<string, object> { ["provider"] = database.Provider.ToString() };
        try
        {
            await using var db = database.CreateContext();
            return await db.Database.CanConnectAsync(cancellationToken).ConfigureAwait(false)
                ? HealthCheckResult.Healthy("saga store reachable", data)
                : HealthCheckResult.Unhealthy("the saga store does not take a connection", data: data);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return HealthCheckResult.Unhealthy($"the saga store does not take a connection: {e.GetBaseException().Message}", data: data);
        }
    }
}
