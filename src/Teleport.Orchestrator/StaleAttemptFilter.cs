using MassTransit;
using Microsoft.Extensions.Logging;

namespace Teleport.Orchestrator;

/// <summary>
/// Drops a worker event that belongs to another attempt of its migration before the state machine sees it: after a
/// RetryMigration the workers may still answer commands of the failed attempt, and such a late TransferFailed or
/// VmPaused must not disturb the retry. Logged, so an operator can tell a dropped answer from a lost one.
/// </summary>
public sealed class StaleAttemptFilter<TMessage>(Func<TMessage, int> attemptOf, ILogger logger, MigrationMetrics metrics) :
    IFilter<SagaConsumeContext<MigrationState, TMessage>>
    where TMessage : class
{
    public Task Send(SagaConsumeContext<MigrationState, TMessage> context, IPipe<SagaConsumeContext<MigrationState, TMessage>> next)
    {
        int attempt = attemptOf(context.Message);
        var saga = context.Saga;
        if (attempt == saga.Attempt)
        {
            return next.Send(context);
        }

        metrics.StaleEvent(typeof(TMessage).Name);
        using (logger.BeginScope(new Dictionary<string, object> { ["MigrationId"] = saga.CorrelationId }))
        {
            logger.LogInformation(
                "Migration {MigrationId}: ignoring {Event} of attempt {EventAttempt}, the migration is at attempt {Attempt} ({State})",
                saga.CorrelationId, typeof(TMessage).Name, attempt, saga.Attempt, saga.CurrentState);
        }

        return Task.CompletedTask;
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("staleAttempt");
}
