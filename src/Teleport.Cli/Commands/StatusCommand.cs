using Spectre.Console;
using Spectre.Console.Cli;
using Teleport.Cli.Infrastructure;
using Teleport.Orchestrator;

namespace Teleport.Cli.Commands;

/// <summary><c>teleport status [ID]</c>: the migrations in the saga store, or one of them in detail.</summary>
public sealed class StatusCommand(CliConsole console) : AsyncCommand<StatusSettings>
{
    public override async Task<int> ExecuteAsync(CommandContext context, StatusSettings settings, CancellationToken cancellationToken)
    {
        var store = OperatorStore.Open(settings.Database, required: true)!;
        // One migration per line, also in a pipe or a log: rather long lines than wrapped cells.
        console.Results.Profile.Width = Math.Max(console.Results.Profile.Width, 400);
        if (settings.Id is not null)
        {
            var row = await store.FindAsync(settings.Id, cancellationToken);
            if (settings.Json)
                console.WriteJson(OperatorMigrationView.Of(row));
            else
                console.Results.Write(OperatorTables.Detail(row));
            return ExitCodes.Success;
        }

        var rows = await store.AllAsync(cancellationToken);
        if (settings.Json)
        {
            console.WriteJson(new { migrations = rows.Select(OperatorMigrationView.Of).ToList() });
        }
        else if (rows.Count == 0)
        {
            console.Ui.MarkupLine($"no migrations in {Markup.Escape(store.Description)}");
        }
        else
        {
            console.Results.Write(OperatorTables.Overview(rows, DateTimeOffset.UtcNow));
        }

        return ExitCodes.Success;
    }
}
