using Serilog;
using Spectre.Console.Cli;
using Teleport.Cli.Hosting;
using Teleport.Cli.Infrastructure;
using Teleport.Contracts;
using Teleport.Messaging;

namespace Teleport.Cli.Commands;

/// <summary>
/// <c>teleport storage</c>: runs a storage worker until Ctrl-C or SIGTERM. It serves the volumes over NBD and takes
/// the saga's commands (PrepareDestination, StartTransfer, FinalSync, AbortTransfer) and CreateVolume/DeleteVolume from its own queue.
/// </summary>
public sealed class StorageCommand(CliConsole console) : AsyncCommand<StorageSettings>
{
    public override async Task<int> ExecuteAsync(CommandContext context, StorageSettings settings, CancellationToken cancellationToken)
    {
        var configuration = StorageHost.ReadConfiguration(settings.ConfigFile, settings.Overrides());
        var options = StorageHost.Options(configuration);
        using var host = StorageHost.Build(configuration, options);
        Log.Information("Storage worker {StorageId} starting: volumes in {Volumes}, NBD on {Nbd}, commands on {Queue}, bus {Bus}",
            options.StorageId, options.VolumeDirectory, options.NbdListen, WorkerQueues.Storage(options.StorageId),
            BusAddress.Parse(options.Bus, "Storage:Bus"));
        return await RoleRunner.RunAsync(host, $"Storage worker {options.StorageId}", options.StopTimeout + TimeSpan.FromSeconds(30), console, cancellationToken);
    }
}
