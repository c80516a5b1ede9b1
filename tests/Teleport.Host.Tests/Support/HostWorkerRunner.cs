using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Teleport.Host.Worker;

namespace Teleport.Host.Tests.Support;

/// <summary>A standalone host worker (node + its own RabbitMQ bus) in a generic host in this process.</summary>
internal sealed class HostWorkerRunner : InProcessHost
{
    private HostWorkerRunner(IHost host, HostWorkerOptions options)
        : base(host)
    {
        Options = options;
    }

    public HostWorkerOptions Options { get; }

    public string HostId => Options.HostId;

    public HostWorkerNode Node => Services.GetRequiredKeyedService<HostWorkerNode>(HostId);

    public HostVm Vm(string id) => Node.Vms[id];

    /// <summary>Starts a host worker with the given VMs on the test broker under a fresh host id.</summary>
    public static async Task<HostWorkerRunner> StartAsync(Action<HostWorkerOptions> configure, Microsoft.Extensions.Logging.ILoggerProvider? logs = null)
    {
        var options = new HostWorkerOptions { HostId = $"host-{Guid.NewGuid():N}"[..17], Bus = TestBroker.Address };
        configure(options);
        var host = await StartHostAsync(services => services.AddTeleportHostWorker(options), logs);
        return new HostWorkerRunner(host, options);
    }
}
