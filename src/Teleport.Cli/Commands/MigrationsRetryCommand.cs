using Teleport.Cli.Infrastructure;
using Teleport.Contracts;
using Teleport.Orchestrator;

namespace Teleport.Cli.Commands;

/// <summary>
/// <c>teleport migrations retry ID</c>: asks the orchestrators to restart a Failed migration with the same id (the
/// destination reuses what it already holds). With a store, a migration that is not Failed, or whose rollback
/// was incomplete, is refused here.
/// </summary>
public sealed class MigrationsRetryCommand(CliConsole console) : MigrationsCommand<MigrationsSettings, RetryMigration>(console)
{
    protected override string Action => "retry";

    protected override void Check(MigrationState row)
    {
        if (row.CurrentState != "Failed")
            throw new UserInputException($"migration {row.CorrelationId} is {row.CurrentState}: only a Failed migration can be retried");
        if (row.RollbackIncomplete)
            throw new UserInputException($"migration {row.CorrelationId} failed with an incomplete rollback: check the VM and the destination first ({row.FailureReason})");
    }

    protected override RetryMigration Message(Guid id, MigrationsSettings settings) => new(id);
}
