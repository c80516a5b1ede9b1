extern alias TeleportHost;

using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Serilog;
using Teleport.Cli.Infrastructure;
using TeleportHost::Teleport.Host.Worker;

namespace Teleport.Cli.Hosting;

/// <summary>Builds the host worker's generic host: configuration from JSON, TELEPORT_* variables and flags; Serilog logging.</summary>
public static class HostWorkerHost
{
    /// <summary>The bound and validated options; a bad setting is the operator's to fix.</summary>
    public static HostWorkerOptions Options(IConfiguration configuration)
    {
        var options = new HostWorkerOptions();
        try
        {
            configuration.GetSection(HostWorkerOptions.SectionName).Bind(options);
            options.Validate();
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException)
        {
            throw new UserInputException(e.Message);
        }

        // A host worker without VMs would take every command only to refuse it.
        if (options.Vms.Count == 0)
            throw new UserInputException("no VMs: give --vm VMID,qmp=PATH,listen=...,storage=ID,upstream=HOST:PORT,export=NAME or Host:Vms in --config");
        return options;
    }

    public static IHost Build(IConfiguration configuration, HostWorkerOptions options)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { ApplicationName = "teleport-host" });
        builder.Configuration.AddConfiguration(configuration);
        // Log.Logger was set up from --log-format/--verbose.
        builder.Services.AddSerilog(Log.Logger, dispose: false);
        builder.Services.AddTeleportHostWorker(options);
        return builder.Build();
    }
}
