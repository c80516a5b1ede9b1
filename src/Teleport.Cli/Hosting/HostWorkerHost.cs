using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Serilog;
using Teleport.Cli.Hosting.Http;
using Teleport.Contracts;
using Teleport.Host.Worker;
using Teleport.Messaging;

namespace Teleport.Cli.Hosting;

/// <summary>Builds the host worker's generic host: configuration from JSON, TELEPORT_* variables and flags; Serilog logging.</summary>
public sealed class HostWorkerHost() : RoleHostFactory<HostWorkerOptions>(HostWorkerOptions.SectionName, "teleport-host")
{
    protected override void Validate(HostWorkerOptions options)
    {
        options.Validate();
        // A host worker with neither VMs nor storages would take every command only to refuse it; one with storages
        // only is a whole-VM move's destination (it starts the incoming VMs).
        if (options.Vms.Count == 0 && options.Storages.Count == 0)
            throw new UserInputException(
                "no VMs: give --vm VMID,qmp=PATH,listen=...,storage=ID,upstream=HOST:PORT,export=NAME or Host:Vms in --config (or Host:Storages for a host that only receives whole-VM moves)");
    }

    protected override void AddServices(IServiceCollection services, HostWorkerOptions options) => services.AddTeleportHostWorker(options);

    protected override void AddReadiness(IHealthChecksBuilder checks, HostWorkerOptions options) => HostReadiness.Add(checks, options.HostId);

    protected override RoleHost Announce(IHost host, HostWorkerOptions options)
    {
        Log.Information("Host worker {HostId} starting: VMs {Vms}, commands on {Queue}, bus {Bus}",
            options.HostId, string.Join(", ", options.Vms.Keys), WorkerQueues.Host(options.HostId), BusAddress.Parse(options.Bus, "Host:Bus"));
        return new RoleHost(host, $"Host worker {options.HostId}", TimeSpan.FromSeconds(40));
    }
}
