using MassTransit;
using MassTransit.Middleware;
using MassTransit.Saga;
using Microsoft.EntityFrameworkCore;

namespace Teleport.Orchestrator.Persistence;

/// <summary>Read-only access to saga rows outside message handling (status queries, the CLI): untracked loads and queries.</summary>
public sealed class MigrationSagaReadContext(OrchestratorDbContext db, CancellationToken cancellationToken) :
    BasePipeContext(cancellationToken),
    LoadSagaRepositoryContext<MigrationState>,
    QuerySagaRepositoryContext<MigrationState>
{
    public async Task<MigrationState> Load(Guid correlationId) =>
        (await db.Migrations.AsNoTracking().SingleOrDefaultAsync(x => x.CorrelationId == correlationId, CancellationToken).ConfigureAwait(false))!;

    public async Task<SagaRepositoryQueryContext<MigrationState>> Query(ISagaQuery<MigrationState> query, CancellationToken cancellationToken = default)
    {
        var instances = await db.Migrations.AsNoTracking().Where(query.FilterExpression).ToListAsync(cancellationToken).ConfigureAwait(false);
        return new LoadedSagaRepositoryQueryContext<MigrationState>(this, instances);
    }
}
