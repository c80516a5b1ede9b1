using Teleport.Contracts;
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
        if (row.Run.RollbackIncomplete)
            throw new UserInputException($"migration {row.CorrelationId} failed with an incomplete rollback: check the VM and the destination first ({row.Run.FailureReason})");
    }

    protected override RetryMigration Message(Guid id, MigrationsSettings settings) => new(id);
}

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
