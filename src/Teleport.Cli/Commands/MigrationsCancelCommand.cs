using Spectre.Console;
using Teleport.Cli.Infrastructure;
using Teleport.Contracts;

namespace Teleport.Cli.Commands;

/// <summary>
/// <c>teleport migrations cancel ID --reason R</c>: asks the orchestrators to roll the migration back to the source
/// and end it Failed. With a store, an unknown id or a migration already over is refused here.
/// </summary>
public sealed class MigrationsCancelCommand(CliConsole console) : OperatorAsyncCommand<MigrationsCancelSettings>(console)
{
    protected override async Task<int> RunAsync(MigrationsCancelSettings settings, CancellationToken cancellationToken)
    {
        var id = Operator.ParseMigrationId(settings.Id);
        var bus = OperatorBus.ForOperator(settings.Bus);
        if (OperatorStore.Open(settings.Database, required: false) is { } store)
        {
            var row = await store.FindAsync(id.ToString(), cancellationToken);
            if (row.CurrentState is "Succeeded" or "Failed")
                throw new UserInputException($"migration {id} is already {row.CurrentState}: nothing to cancel");
        }

        await using (var client = await OperatorBusClient.StartAsync(bus, null, cancellationToken))
            await client.SendAsync(settings.OrchestratorQueue, new CancelMigration(id, settings.Reason!), cancellationToken);
        Console.Ui.MarkupLine($"cancel of migration {id} sent to {Markup.Escape(settings.OrchestratorQueue)}");
        return ExitCodes.Success;
    }
}
