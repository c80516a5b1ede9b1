using MassTransit;
using MassTransit.Saga;
using Microsoft.EntityFrameworkCore;

namespace Teleport.Orchestrator.Persistence;

/// <summary>
/// Teleport's saga repository on MassTransit's repository API: every message gets its own DbContext (so a retry
/// after a concurrency conflict starts from the row as it is now), loads its saga, and the saga pipe saves it.
/// </summary>
public sealed class MigrationSagaRepositoryContextFactory(
    OrchestratorDatabase database,
    ISagaConsumeContextFactory<OrchestratorDbContext, MigrationState> consumeContextFactory) :
    ISagaRepositoryContextFactory<MigrationState>,
    ILoadSagaRepositoryContextFactory<MigrationState>,
    IQuerySagaRepositoryContextFactory<MigrationState>
{
    public void Probe(ProbeContext context)
    {
        context.Add("persistence", "teleport-efcore");
        context.Add("provider", database.Provider.ToString());
    }

    public async Task Send<T>(ConsumeContext<T> context, IPipe<SagaRepositoryContext<MigrationState, T>> next)
        where T : class
    {
        await using var db = await database.OpenAsync(context.CancellationToken).ConfigureAwait(false);
        var repositoryContext = new MigrationSagaRepositoryContext<T>(db, context, consumeContextFactory);
        await next.Send(repositoryContext).ConfigureAwait(false);
    }

    public async Task SendQuery<T>(ConsumeContext<T> context, ISagaQuery<MigrationState> query, IPipe<SagaRepositoryQueryContext<MigrationState, T>> next)
        where T : class
    {
        await using var db = await database.OpenAsync(context.CancellationToken).ConfigureAwait(false);
        var instances = await db.Migrations.Where(query.FilterExpression).ToListAsync(context.CancellationToken).ConfigureAwait(false);
        var repositoryContext = new MigrationSagaRepositoryContext<T>(db, context, consumeContextFactory);
        await next.Send(new LoadedSagaRepositoryQueryContext<MigrationState, T>(repositoryContext, instances)).ConfigureAwait(false);
    }

    public Task<T> Execute<T>(Func<LoadSagaRepositoryContext<MigrationState>, Task<T>> asyncMethod, CancellationToken cancellationToken = default)
        where T : class =>
        ExecuteRead(asyncMethod, cancellationToken);

    public Task<T> Execute<T>(Func<QuerySagaRepositoryContext<MigrationState>, Task<T>> asyncMethod, CancellationToken cancellationToken = default)
        where T : class =>
        ExecuteRead(asyncMethod, cancellationToken);

    private async Task<T> ExecuteRead<T>(Func<MigrationSagaReadContext, Task<T>> asyncMethod, CancellationToken cancellationToken)
    {
        await using var db = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        return await asyncMethod(new MigrationSagaReadContext(db, cancellationToken)).ConfigureAwait(false);
    }
}
