using Spectre.Console;
using Teleport.Cli.Infrastructure;
using Teleport.Orchestrator;

namespace Teleport.Cli.Commands;

/// <summary>
/// A <c>teleport migrations</c> command: one message about one migration to the orchestrators' queue. With a store,
/// a migration the message cannot apply to is refused here, before anything is sent.
/// </summary>
public abstract class MigrationsCommand<TSettings, TMessage>(CliConsole console) : OperatorAsyncCommand<TSettings>(console)
    where TSettings : MigrationsSettings
    where TMessage : class
{
    /// <summary>What is sent, as the confirmation names it ("retry", "cancel").</summary>
    protected abstract string Action { get; }

    protected sealed override async Task<int> RunAsync(TSettings settings, CancellationToken cancellationToken)
    {
        var id = Operator.ParseMigrationId(settings.Id);
        var bus = OperatorBus.ForOperator(settings.Bus);
        if (OperatorStore.Open(settings.Database, required: false) is { } store)
            Check(await store.FindAsync(id.ToString(), cancellationToken));

        await using (var client = await OperatorBusClient.StartAsync(bus, null, cancellationToken))
            await client.SendAsync(settings.OrchestratorQueue, Message(id, settings), cancellationToken);
        Console.Ui.MarkupLine($"{Action} of migration {id} sent to {Markup.Escape(settings.OrchestratorQueue)}");
        return ExitCodes.Success;
    }

    /// <exception cref="UserInputException">The migration is in no state for this message.</exception>
    protected abstract void Check(MigrationState row);

    protected abstract TMessage Message(Guid id, TSettings settings);
}
