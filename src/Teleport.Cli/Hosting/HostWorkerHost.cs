using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Serilog;
using Teleport.Cli.Infrastructure;
using Teleport.Contracts;
using Teleport.Host.Worker;
using Teleport.Messaging;

namespace Teleport.Cli.Hosting;

/// <summary>Builds the host worker's generic host: configuration from JSON, TELEPORT_* variables and flags; Serilog logging.</summary>
public static class HostWorkerHost
{
    /// <summary>Binds and checks the options, says what starts and builds the host.</summary>
    public static RoleHost Create(IConfiguration configuration)
    {
        var options = Options(configuration);
        var host = Build(configuration, options);
        Log.Information("Host worker {HostId} starting: VMs {Vms}, commands on {Queue}, bus {Bus}",
            options.HostId, string.Join(", ", options.Vms.Keys), WorkerQueues.Host(options.HostId), BusAddress.Parse(options.Bus, "Host:Bus"));
        return new RoleHost(host, $"Host worker {options.HostId}", TimeSpan.FromSeconds(40));
    }

    /// <summary>The bound and validated options; a bad setting is the operator's to fix.</summary>
    public static HostWorkerOptions Options(IConfiguration configuration)
    {
        var options = RoleConfiguration.Bind<HostWorkerOptions>(configuration, HostWorkerOptions.SectionName, o => o.Validate());
        // A host worker without VMs would take every command only to refuse it.
        if (options.Vms.Count == 0)
            throw new UserInputException("no VMs: give --vm VMID,qmp=PATH,listen=...,storage=ID,upstream=HOST:PORT,export=NAME or Host:Vms in --config");
        return options;
    }

    public static IHost Build(IConfiguration configuration, HostWorkerOptions options)
    {
        var builder = RoleConfiguration.CreateBuilder("teleport-host", configuration);
        // Log.Logger was set up from --log-format/--verbose.
        builder.Services.AddSerilog(Log.Logger, dispose: false);
        builder.Services.AddTeleportHostWorker(options);
        return builder.Build();
    }
}
