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

        // Messages of one migration are handled one at a time in this process: two answers arriving together
        // (TargetSwitched and MigrationCompleted at the cut-over) would otherwise race for the row, and the loser's
        // retry would hold the VM paused for a retry interval. Other instances still race; the retry covers them.
        var partition = endpointConfigurator.CreatePartitioner(_options.PartitionCount);
        Serialize<MigrationRequested>(sagaConfigurator, partition, m => m.MigrationId);
        Serialize<CancelMigration>(sagaConfigurator, partition, m => m.MigrationId);
        Serialize<RetryMigration>(sagaConfigurator, partition, m => m.MigrationId);
        Serialize<MigrationDeadlineExpired>(sagaConfigurator, partition, m => m.MigrationId);
        Serialize<MigrationNudged>(sagaConfigurator, partition, m => m.MigrationId);

        // Every event a worker publishes echoes the attempt of the command it answers.
        Answer<DestinationPrepared>(sagaConfigurator, partition, m => m.MigrationId, m => m.Attempt);
        Answer<IndexStreamed>(sagaConfigurator, partition, m => m.MigrationId, m => m.Attempt);
        Answer<BlocksRequested>(sagaConfigurator, partition, m => m.MigrationId, m => m.Attempt);
        Answer<CopyRoundCompleted>(sagaConfigurator, partition, m => m.MigrationId, m => m.Attempt);
        Answer<DirtyBelowThreshold>(sagaConfigurator, partition, m => m.MigrationId, m => m.Attempt);
        Answer<VmPaused>(sagaConfigurator, partition, m => m.MigrationId, m => m.Attempt);
        Answer<TargetSwitched>(sagaConfigurator, partition, m => m.MigrationId, m => m.Attempt);
        Answer<MigrationCompleted>(sagaConfigurator, partition, m => m.MigrationId, m => m.Attempt);
        Answer<VmResumed>(sagaConfigurator, partition, m => m.MigrationId, m => m.Attempt);
        Answer<TargetSwitchedBack>(sagaConfigurator, partition, m => m.MigrationId, m => m.Attempt);
        Answer<TransferFailed>(sagaConfigurator, partition, m => m.MigrationId, m => m.Attempt);
        Answer<HostOperationFailed>(sagaConfigurator, partition, m => m.MigrationId, m => m.Attempt);
        Answer<TransferAborted>(sagaConfigurator, partition, m => m.MigrationId, m => m.Attempt);
        Answer<VmDescribed>(sagaConfigurator, partition, m => m.MigrationId, m => m.Attempt);
        Answer<IncomingVmPrepared>(sagaConfigurator, partition, m => m.MigrationId, m => m.Attempt);
        Answer<MemoryMigrationProgress>(sagaConfigurator, partition, m => m.MigrationId, m => m.Attempt);
        Answer<MemoryPreSwitchover>(sagaConfigurator, partition, m => m.MigrationId, m => m.Attempt);
        Answer<VmMemoryMigrated>(sagaConfigurator, partition, m => m.MigrationId, m => m.Attempt);
        Answer<IncomingVmDiscarded>(sagaConfigurator, partition, m => m.MigrationId, m => m.Attempt);
        Answer<SourceVmStopped>(sagaConfigurator, partition, m => m.MigrationId, m => m.Attempt);
    }

    private static void Serialize<T>(ISagaConfigurator<MigrationState> sagaConfigurator, IPartitioner partition, Func<T, Guid> migrationOf)
        where T : class =>
        sagaConfigurator.Message<T>(m => m.UsePartitioner(partition, c => migrationOf(c.Message)));

    private void Answer<T>(ISagaConfigurator<MigrationState> sagaConfigurator, IPartitioner partition, Func<T, Guid> migrationOf, Func<T, int> attemptOf)
        where T : class
    {
        Serialize(sagaConfigurator, partition, migrationOf);
        sagaConfigurator.SagaMessage<T>(m => m.UseFilter(new StaleAttemptFilter<T>(attemptOf, _logger, _metrics)));
    }
}
