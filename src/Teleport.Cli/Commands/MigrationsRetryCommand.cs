using Spectre.Console;
using Teleport.Cli.Infrastructure;
using Teleport.Contracts;

namespace Teleport.Cli.Commands;

/// <summary>
/// <c>teleport migrations retry ID</c>: asks the orchestrators to restart a Failed migration with the same id (the
/// destination reuses what it already holds). With a store, a migration that is not Failed, or whose rollback
/// was incomplete, is refused here.
/// </summary>
public sealed class MigrationsRetryCommand(CliConsole console) : OperatorAsyncCommand<MigrationsSettings>(console)
{
    protected override async Task<int> RunAsync(MigrationsSettings settings, CancellationToken cancellationToken)
    {
        var id = Operator.ParseMigrationId(settings.Id);
        var bus = OperatorBus.ForOperator(settings.Bus);
        if (OperatorStore.Open(settings.Database, required: false) is { } store)
        {
            var row = await store.FindAsync(id.ToString(), cancellationToken);
            if (row.CurrentState != "Failed")
                throw new UserInputException($"migration {id} is {row.CurrentState}: only a Failed migration can be retried");
            if (row.Run.RollbackIncomplete)
                throw new UserInputException($"migration {id} failed with an incomplete rollback: check the VM and the destination first ({row.Run.FailureReason})");
        }

        await using (var client = await OperatorBusClient.StartAsync(bus, null, cancellationToken))
            await client.SendAsync(settings.OrchestratorQueue, new RetryMigration(id), cancellationToken);
        Console.Ui.MarkupLine($"retry of migration {id} sent to {Markup.Escape(settings.OrchestratorQueue)}");
        return ExitCodes.Success;
    }
}
