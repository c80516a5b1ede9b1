using Teleport.Orchestrator;

namespace Teleport.Cli.Commands;

/// <summary>
/// <c>teleport watch</c>: follows every migration in the saga store until Ctrl-C. On a terminal it redraws the status
/// table; otherwise (a log, a pipe) it prints one line per change of a migration, so the output reads as a history.
/// </summary>
public sealed class WatchCommand(CliConsole console) : SagaStoreCommand<WatchSettings>(console)
{
    protected override async Task<int> RunAsync(OperatorStore store, WatchSettings settings, CancellationToken cancellationToken)
    {
        var interval = TimeSpan.FromSeconds(settings.IntervalSeconds);
        // Read once up front: a store that cannot be read is an error now, not a silent empty screen.
        var rows = await store.AllAsync(cancellationToken);
        try
        {
            if (Console.IsInteractive)
                await RedrawAsync(store, rows, interval, cancellationToken);
            else
                await PrintChangesAsync(store, rows, interval, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }

        return ExitCodes.Success;
    }

    private async Task RedrawAsync(OperatorStore store, List<MigrationState> rows, TimeSpan interval, CancellationToken cancellationToken)
    {
        bool compact = Console.Ui.Profile.Width < 160;
        await Console.Ui.Live(Render(rows, compact)).StartAsync(async live =>
        {
            while (true)
            {
                await Task.Delay(interval, cancellationToken);
                rows = await store.AllAsync(cancellationToken);
                live.UpdateTarget(Render(rows, compact));
            }
        });
    }

    private static Spectre.Console.Rendering.IRenderable Render(List<MigrationState> rows, bool compact) =>
        rows.Count == 0
            ? new Markup($"[grey]no migrations yet ({DateTime.Now:HH:mm:ss}); Ctrl-C ends[/]")
            : new Rows(OperatorTables.Overview(rows, DateTimeOffset.UtcNow, compact), new Markup($"[grey]{DateTime.Now:HH:mm:ss}; Ctrl-C ends[/]"));

    private async Task PrintChangesAsync(OperatorStore store, List<MigrationState> rows, TimeSpan interval, CancellationToken cancellationToken)
    {
        var seen = new Dictionary<Guid, int>();
        while (true)
        {
            foreach (var row in rows.OrderBy(r => r.RequestedAt))
            {
                if (seen.TryGetValue(row.CorrelationId, out int version) && version == row.Version)
                    continue;
                seen[row.CorrelationId] = row.Version;
                await Console.Out.WriteLineAsync(Line(row));
            }

            await Console.Out.FlushAsync(cancellationToken);
            await Task.Delay(interval, cancellationToken);
            rows = await store.AllAsync(cancellationToken);
        }
    }

    /// <summary>One change as a line: time, id, VM, state and what it is doing.</summary>
    public static string Line(MigrationState row)
    {
        var view = OperatorMigrationView.Of(row);
        return $"{DateTime.UtcNow:HH:mm:ss} {Operator.Short(row.CorrelationId)} vm={row.VmId} volume={row.VolumeId} " +
               $"{row.SourceStorageId}->{row.DestinationStorageId} state={row.CurrentState} phase={row.Phase} attempt={row.Attempt} " +
               $"rounds={row.Run.Rounds} wire={row.Run.BytesOnWire} index={row.Run.BlocksFromIndex}" +
               (view.WholeVm ? $" host={row.HostId}->{row.DestinationHostId} memory={Math.Max(row.Run.MemoryBytes, row.Run.MemoryTransferredBytes)}" : "") +
               $" | {view.Progress}";
    }
}
