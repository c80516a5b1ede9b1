using Teleport.Orchestrator;

namespace Teleport.Cli.Commands;

/// <summary><c>teleport status [ID]</c>: the migrations in the saga store, or one of them in detail.</summary>
public sealed class StatusCommand(CliConsole console) : SagaStoreCommand<StatusSettings>(console)
{
    protected override async Task<int> RunAsync(OperatorStore store, StatusSettings settings, CancellationToken cancellationToken)
    {
        // One migration per line, also in a pipe or a log: rather long lines than wrapped cells.
        Console.Results.Profile.Width = Math.Max(Console.Results.Profile.Width, 400);
        if (settings.Id is not null)
        {
            var row = await store.FindAsync(settings.Id, cancellationToken);
            if (settings.Json)
                Console.WriteJson(OperatorMigrationView.Of(row));
            else
                Console.Results.Write(OperatorTables.Detail(row));
            return ExitCodes.Success;
        }

        var rows = await store.AllAsync(cancellationToken);
        if (settings.Json)
        {
            Console.WriteJson(new { migrations = rows.Select(OperatorMigrationView.Of).ToList() });
        }
        else if (rows.Count == 0)
        {
            Console.Ui.MarkupLine($"no migrations in {Markup.Escape(store.Description)}");
        }
        else
        {
            Console.Results.Write(OperatorTables.Overview(rows, DateTimeOffset.UtcNow));
        }

        return ExitCodes.Success;
    }
}
