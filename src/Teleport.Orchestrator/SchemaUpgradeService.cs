using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Teleport.Orchestrator.Persistence;

namespace Teleport.Orchestrator;

/// <summary>Creates or upgrades the schema when the orchestrator starts, so a broken database fails the start loudly.</summary>
public sealed class SchemaUpgradeService(OrchestratorDatabase database, ILogger<SchemaUpgradeService> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await database.EnsureSchemaAsync(cancellationToken).ConfigureAwait(false);
        logger.LogInformation("Saga state in {Provider} at schema version {Version}", database.Provider, SchemaScripts.Latest);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
