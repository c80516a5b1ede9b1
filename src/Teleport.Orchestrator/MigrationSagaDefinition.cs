using System.Data.Common;
using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Teleport.Contracts;

namespace Teleport.Orchestrator;

/// <summary>
/// The saga's endpoint (the orchestrators' shared queue): a message that lost an optimistic-concurrency race is
/// re-run against the row as it is now, nothing it sends or publishes leaves before its state is saved, and a
/// worker's answer to an earlier attempt of the migration is dropped before the state machine sees it.
/// </summary>
public sealed class MigrationSagaDefinition : SagaDefinition<MigrationState>
{
    private readonly OrchestratorOptions _options;
    private readonly ILogger _logger;
    private readonly MigrationMetrics _metrics;

    public MigrationSagaDefinition(OrchestratorOptions options, ILoggerFactory loggerFactory, MigrationMetrics metrics)
    {
        _options = options;
        _metrics = metrics;
        _logger = loggerFactory.CreateLogger<MigrationStateMachine>();
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

        // Every event a worker publishes echoes the attempt of the command it answers.
        DropOtherAttempts<DestinationPrepared>(sagaConfigurator, m => m.Attempt);
        DropOtherAttempts<IndexStreamed>(sagaConfigurator, m => m.Attempt);
        DropOtherAttempts<BlocksRequested>(sagaConfigurator, m => m.Attempt);
        DropOtherAttempts<CopyRoundCompleted>(sagaConfigurator, m => m.Attempt);
        DropOtherAttempts<DirtyBelowThreshold>(sagaConfigurator, m => m.Attempt);
        DropOtherAttempts<VmPaused>(sagaConfigurator, m => m.Attempt);
        DropOtherAttempts<TargetSwitched>(sagaConfigurator, m => m.Attempt);
        DropOtherAttempts<MigrationCompleted>(sagaConfigurator, m => m.Attempt);
        DropOtherAttempts<VmResumed>(sagaConfigurator, m => m.Attempt);
        DropOtherAttempts<TargetSwitchedBack>(sagaConfigurator, m => m.Attempt);
        DropOtherAttempts<TransferFailed>(sagaConfigurator, m => m.Attempt);
        DropOtherAttempts<HostOperationFailed>(sagaConfigurator, m => m.Attempt);
        DropOtherAttempts<TransferAborted>(sagaConfigurator, m => m.Attempt);
    }

    private void DropOtherAttempts<T>(ISagaConfigurator<MigrationState> sagaConfigurator, Func<T, int> attemptOf)
        where T : class =>
        sagaConfigurator.SagaMessage<T>(m => m.UseFilter(new StaleAttemptFilter<T>(attemptOf, _logger, _metrics)));
}
