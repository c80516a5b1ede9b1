using Microsoft.Extensions.Configuration;
using Teleport.Cli.Hosting;

namespace Teleport.Cli.Commands;

/// <summary>A role's command: builds the role's generic host from its settings and runs it until Ctrl-C or SIGTERM.</summary>
public abstract class RoleCommand<TSettings>(CliConsole console) : AsyncCommand<TSettings>
    where TSettings : RoleSettings
{
    public sealed override Task<int> ExecuteAsync(CommandContext context, TSettings settings, CancellationToken cancellationToken) =>
        RoleRunner.RunAsync(CreateHost(settings.Configuration()), console, cancellationToken);

    /// <summary>Binds and checks the role's options and builds its host; a bad setting is a <see cref="UserInputException"/>.</summary>
    protected abstract RoleHost CreateHost(IConfiguration configuration);
}

/// <summary>
/// <c>teleport storage</c>: runs a storage worker until Ctrl-C or SIGTERM. It serves the volumes over NBD and takes
/// the saga's commands (PrepareDestination, StartTransfer, FinalSync, AbortTransfer) and CreateVolume/DeleteVolume from its own queue.
/// </summary>
public sealed class StorageCommand(CliConsole console) : RoleCommand<StorageSettings>(console)
{
    protected override RoleHost CreateHost(IConfiguration configuration) => new StorageHost().Create(configuration);
}

/// <summary>
/// <c>teleport host</c>: runs a host worker until Ctrl-C or SIGTERM. It serves each VM's disk through a path switcher
/// and takes the saga's commands (PauseVm, SwitchTarget, SwitchBack, ResumeVm) from its own queue.
/// </summary>
public sealed class HostCommand(CliConsole console) : RoleCommand<HostSettings>(console)
{
    protected override RoleHost CreateHost(IConfiguration configuration) => new HostWorkerHost().Create(configuration);
}

/// <summary>
/// <c>teleport orchestrator</c>: runs the migration saga until Ctrl-C or SIGTERM. Upgrades the database schema on
/// start, consumes the orchestrators' shared queue and sweeps deadlines. Any number may run against one broker and
/// one PostgreSQL database.
/// </summary>
public sealed class OrchestratorCommand(CliConsole console) : RoleCommand<OrchestratorSettings>(console)
{
    protected override RoleHost CreateHost(IConfiguration configuration) => new OrchestratorHost().Create(configuration);
}
