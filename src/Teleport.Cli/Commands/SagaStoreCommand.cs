namespace Teleport.Cli.Commands;

/// <summary>Settings naming the orchestrators' saga store (--db, else TELEPORT_DB).</summary>
public interface ISagaStoreSettings
{
    string? Database { get; }
}

/// <summary>A command that reads the orchestrators' saga store; a store that is not named is the operator's to fix.</summary>
public abstract class SagaStoreCommand<TSettings>(CliConsole console) : AsyncCommand<TSettings>
    where TSettings : CommandSettings, ISagaStoreSettings
{
    protected CliConsole Console { get; } = console;

    public sealed override Task<int> ExecuteAsync(CommandContext context, TSettings settings, CancellationToken cancellationToken) =>
        RunAsync(OperatorStore.Open(settings.Database, required: true)!, settings, cancellationToken);

    protected abstract Task<int> RunAsync(OperatorStore store, TSettings settings, CancellationToken cancellationToken);
}
