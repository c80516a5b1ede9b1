using Serilog;
using Spectre.Console;
using Spectre.Console.Cli;
using Teleport.Cli.Hosting;
using Teleport.Cli.Infrastructure;
using Teleport.Orchestrator.Persistence;
using Teleport.Messaging;

namespace Teleport.Cli.Commands;

/// <summary>
/// <c>teleport orchestrator</c>: runs the migration saga until Ctrl-C or SIGTERM. Upgrades the database schema on
/// start, consumes the orchestrators' shared queue and sweeps deadlines. Any number may run against one broker and
/// one PostgreSQL database.
/// </summary>
public sealed class OrchestratorCommand(CliConsole console) : AsyncCommand<OrchestratorSettings>
{
    public override async Task<int> ExecuteAsync(CommandContext context, OrchestratorSettings settings, CancellationToken cancellationToken)
    {
        var configuration = StorageHost.ReadConfiguration(settings.ConfigFile, settings.Overrides());
        var options = OrchestratorHost.Options(configuration);
        using var host = OrchestratorHost.Build(configuration, options);
        Log.Information("Orchestrator starting: saga state in {Provider}, queue {Queue}, bus {Bus}",
            OrchestratorDatabase.DetectProvider(options.Database), options.QueueName, BusAddress.Parse(options.Bus, "Orchestrator:Bus"));
        try
        {
            await host.StartAsync(cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return ExitCodes.Success;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The database or the broker is not there: one line for the operator, the detail in the log.
            Log.Error(e, "Orchestrator could not start");
            console.Ui.MarkupLine($"[red]error:[/] orchestrator could not start: {Markup.Escape(e.GetBaseException().Message)}");
            return ExitCodes.Failure;
        }

        Log.Information("Orchestrator running");
        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            Log.Information("Orchestrator stopping");
        }

        using var stopping = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await host.StopAsync(stopping.Token);
        Log.Information("Orchestrator stopped");
        return ExitCodes.Success;
    }
}
