extern alias TeleportHost;

using Serilog;
using Spectre.Console.Cli;
using Teleport.Cli.Hosting;
using Teleport.Cli.Infrastructure;
using Teleport.Contracts;
using TeleportHost::Teleport.Host.Worker;
using Teleport.Messaging;

namespace Teleport.Cli.Commands;

/// <summary>
/// <c>teleport host</c>: runs a host worker until Ctrl-C or SIGTERM. It serves each VM's disk through a path switcher
/// and takes the saga's commands (PauseVm, SwitchTarget, SwitchBack, ResumeVm) from its own queue.
/// </summary>
public sealed class HostCommand(CliConsole console) : AsyncCommand<HostSettings>
{
    public override async Task<int> ExecuteAsync(CommandContext context, HostSettings settings, CancellationToken cancellationToken)
    {
        var configuration = StorageHost.ReadConfiguration(settings.ConfigFile, settings.Overrides());
        var options = HostWorkerHost.Options(configuration);
        using var host = HostWorkerHost.Build(configuration, options);
        Log.Information("Host worker {HostId} starting: VMs {Vms}, commands on {Queue}, bus {Bus}",
            options.HostId, string.Join(", ", options.Vms.Keys), WorkerQueues.Host(options.HostId), BusAddress.Parse(options.Bus, "Host:Bus"));
        return await RoleRunner.RunAsync(host, $"Host worker {options.HostId}", TimeSpan.FromSeconds(40), console, cancellationToken);
    }
}
