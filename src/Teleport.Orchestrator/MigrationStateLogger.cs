using MassTransit;
using Microsoft.Extensions.Logging;

namespace Teleport.Orchestrator;

/// <summary>
/// Logs every state change of a migration, with its MigrationId in the scope, so operators can follow one migration,
/// and counts starts and ends in <see cref="MigrationMetrics"/>.
/// </summary>
public sealed class MigrationStateLogger(ILogger<MigrationStateMachine> logger, MigrationMetrics metrics) : IStateObserver<MigrationState>
{
    public Task StateChanged(BehaviorContext<MigrationState> context, State currentState, State previousState)
    {
        var saga = context.Saga;
        switch (currentState.Name)
        {
            case "Preparing":
                metrics.Started(saga.Attempt);
                break;
            case "Succeeded":
                metrics.Succeeded(saga);
                break;
            case "Failed":
                metrics.Failed(saga);
                break;
        }

        using (logger.BeginScope(new Dictionary<string, object> { ["MigrationId"] = saga.CorrelationId }))
        {
            if (currentState.Name == "Failed")
            {
                logger.LogWarning("Migration {MigrationId} of VM {VmId} failed in phase {Phase}: {Reason}",
                    saga.CorrelationId, saga.VmId, saga.Run.FailedPhase, saga.Run.FailureReason);
            }
            else
            {
                logger.LogInformation("Migration {MigrationId} of VM {VmId}: {PreviousState} -> {State} on {Event}",
                    saga.CorrelationId, saga.VmId, previousState?.Name ?? "Initial", currentState.Name, context.Event.Name);
            }
        }

        return Task.CompletedTask;
    }

    // Past the point of no return (StartingOnDestination) the saga only waits for the destination: operators must see why.
    public static void CancelRefused(ILogger logger, Guid migrationId, string reason) =>
        logger.LogWarning("Migration {MigrationId}: cancel ({Reason}) refused, the VM may already run on the destination host; waiting for it",
            migrationId, reason);

    public static void DestinationStartOverdue(ILogger logger, Guid migrationId, TimeSpan waited) =>
        logger.LogWarning("Migration {MigrationId}: the destination host did not confirm the VM runs within {Waited}; asking again (no rollback past the point of no return)",
            migrationId, waited);
}
