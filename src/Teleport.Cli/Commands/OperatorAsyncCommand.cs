namespace Teleport.Cli.Commands;

/// <summary>An operator command: a failure to do its work (<see cref="OperatorException"/>) is one line on stderr and exit code 1.</summary>
public abstract class OperatorAsyncCommand<TSettings>(CliConsole console) : AsyncCommand<TSettings>
    where TSettings : CommandSettings
{
    protected CliConsole Console { get; } = console;

    public sealed override async Task<int> ExecuteAsync(CommandContext context, TSettings settings, CancellationToken cancellationToken)
    {
        try
        {
            return await RunAsync(settings, cancellationToken);
        }
        catch (OperatorException e)
        {
            Console.Ui.MarkupLine($"[red]error:[/] {Markup.Escape(e.Message)}");
            return ExitCodes.Failure;
        }
    }

    protected abstract Task<int> RunAsync(TSettings settings, CancellationToken cancellationToken);
}
