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
        return await RoleRunner.RunAsync(host, "Orchestrator", TimeSpan.FromSeconds(60), console, cancellationToken);
    }
}
