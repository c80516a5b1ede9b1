using Teleport.Cli.Infrastructure;
using Teleport.Contracts;
using Teleport.Orchestrator;

namespace Teleport.Cli.Commands;

/// <summary>
/// <c>teleport migrations cancel ID --reason R</c>: asks the orchestrators to roll the migration back to the source
/// and end it Failed. With a store, an unknown id or a migration already over is refused here.
/// </summary>
public sealed class MigrationsCancelCommand(CliConsole console) : MigrationsCommand<MigrationsCancelSettings, CancelMigration>(console)
{
    protected override string Action => "cancel";

    protected override void Check(MigrationState row)
    {
        if (row.CurrentState is "Succeeded" or "Failed")
            throw new UserInputException($"migration {row.CorrelationId} is already {row.CurrentState}: nothing to cancel");
    }

    protected override CancelMigration Message(Guid id, MigrationsCancelSettings settings) => new(id, settings.Reason!);
}
