using System.Data.Common;
using MassTransit;
using Microsoft.EntityFrameworkCore;

namespace Teleport.Orchestrator;

/// <summary>
/// The saga's endpoint (the orchestrators' shared queue): a message that lost an optimistic-concurrency race is
/// re-run against the row as it is now, and nothing it sends or publishes leaves before its state is saved.
/// </summary>
public sealed class MigrationSagaDefinition : SagaDefinition<MigrationState>
{
    private readonly OrchestratorOptions _options;

    public MigrationSagaDefinition(OrchestratorOptions options)
    {
        _options = options;
        EndpointName = options.QueueName;
    }

    protected override void ConfigureSaga(
        IReceiveEndpointConfigurator endpointConfigurator, ISagaConfigurator<MigrationState> sagaConfigurator, IRegistrationContext context)
    {
        // Retry outside the outbox: each attempt gets a fresh outbox, and only the attempt that saved sends anything.
        endpointConfigurator.UseMessageRetry(r =>
        {
            r.Handle<DbUpdateException>();
            r.Handle<DbException>(e => e.IsTransient);
            r.Exponential(_options.ConcurrencyRetryLimit, TimeSpan.FromMilliseconds(10), TimeSpan.FromSeconds(2), TimeSpan.FromMilliseconds(50));
        });
        endpointConfigurator.UseInMemoryOutbox(context);
    }
}
