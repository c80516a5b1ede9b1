using MassTransit;
using MassTransit.Context;
using MassTransit.Saga;
using Microsoft.EntityFrameworkCore;

namespace Teleport.Orchestrator.Persistence;

/// <summary>
/// The repository as one message sees it: loads the saga row (tracked) into this message's DbContext and saves
/// it with the version check. No transaction: a single-row update guarded by its version is atomic on its own.
/// </summary>
public sealed class MigrationSagaRepositoryContext<TMessage> :
    ConsumeContextScope<TMessage>,
    SagaRepositoryContext<MigrationState, TMessage>
    where TMessage : class
{
    private readonly OrchestratorDbContext _db;
    private readonly ConsumeContext<TMessage> _consumeContext;
    private readonly ISagaConsumeContextFactory<OrchestratorDbContext, MigrationState> _factory;

    public MigrationSagaRepositoryContext(
        OrchestratorDbContext db,
        ConsumeContext<TMessage> consumeContext,
        ISagaConsumeContextFactory<OrchestratorDbContext, MigrationState> factory)
        : base(consumeContext, db)
    {
        _db = db;
        _consumeContext = consumeContext;
        _factory = factory;
    }

    public Task<SagaConsumeContext<MigrationState, T>> CreateSagaConsumeContext<T>(
        ConsumeContext<T> consumeContext, MigrationState instance, SagaConsumeContextMode mode)
        where T : class =>
        _factory.CreateSagaConsumeContext(_db, consumeContext, instance, mode);

    /// <summary>A new instance, saved by <see cref="Save"/> once the state machine has run.</summary>
    public Task<SagaConsumeContext<MigrationState, TMessage>> Add(MigrationState instance) =>
        _factory.CreateSagaConsumeContext(_db, _consumeContext, instance, SagaConsumeContextMode.Add);

    /// <summary>Inserts before the state machine runs; null when the row already exists (the caller then loads it).</summary>
    public async Task<SagaConsumeContext<MigrationState, TMessage>> Insert(MigrationState instance)
    {
        var entry = _db.Migrations.Add(instance);
        try
        {
            await _db.SaveChangesAsync(CancellationToken).ConfigureAwait(false);
        }
        catch (DbUpdateException)
        {
            // Detach the failed insert so that this context can still load and update the existing row.
            entry.State = EntityState.Detached;
            return null!;
        }

        return await _factory.CreateSagaConsumeContext(_db, _consumeContext, instance, SagaConsumeContextMode.Insert).ConfigureAwait(false);
    }

    public async Task<SagaConsumeContext<MigrationState, TMessage>> Load(Guid correlationId)
    {
        var instance = await _db.Migrations.SingleOrDefaultAsync(x => x.CorrelationId == correlationId, CancellationToken).ConfigureAwait(false);
        if (instance is null)
        {
            return null!;
        }

        return await _factory.CreateSagaConsumeContext(_db, _consumeContext, instance, SagaConsumeContextMode.Load).ConfigureAwait(false);
    }

    /// <summary>Inserts a new instance; a concurrent insert of the same id fails with DbUpdateException (retried, then loaded).</summary>
    public async Task Save(SagaConsumeContext<MigrationState> context)
    {
        _db.Migrations.Add(context.Saga);
        await _db.SaveChangesAsync(CancellationToken).ConfigureAwait(false);
    }

    /// <summary>Writes the changed columns where the version is still the one read; else DbUpdateConcurrencyException.</summary>
    public Task Update(SagaConsumeContext<MigrationState> context) => _db.SaveChangesAsync(CancellationToken);

    public async Task Delete(SagaConsumeContext<MigrationState> context)
    {
        _db.Migrations.Remove(context.Saga);
        await _db.SaveChangesAsync(CancellationToken).ConfigureAwait(false);
    }

    public Task Discard(SagaConsumeContext<MigrationState> context) => Task.CompletedTask;

    public Task Undo(SagaConsumeContext<MigrationState> context)
    {
        var entry = _db.ChangeTracker.Entries<MigrationState>().FirstOrDefault(x => x.Entity.CorrelationId == context.Saga.CorrelationId);
        if (entry is not null)
        {
            entry.State = EntityState.Detached;
        }

        return Task.CompletedTask;
    }
}
