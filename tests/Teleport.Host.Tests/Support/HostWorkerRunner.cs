using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Teleport.Host.Worker;

namespace Teleport.Host.Tests.Support;

/// <summary>A standalone host worker (node + its own RabbitMQ bus) in a generic host in this process.</summary>
internal sealed class HostWorkerRunner : IAsyncDisposable
{
    private readonly IHost _host;

    private HostWorkerRunner(IHost host, HostWorkerOptions options)
    {
        _host = host;
        Options = options;
    }

    public HostWorkerOptions Options { get; }

    public string HostId => Options.HostId;

    public HostWorkerNode Node => _host.Services.GetRequiredKeyedService<HostWorkerNode>(HostId);

    public HostVm Vm(string id) => Node.Vms[id];

    /// <summary>Starts a host worker with the given VMs on the test broker under a fresh host id.</summary>
    public static async Task<HostWorkerRunner> StartAsync(Action<HostWorkerOptions> configure)
    {
        var options = new HostWorkerOptions { HostId = $"host-{Guid.NewGuid():N}"[..17], Bus = TestBroker.Address };
        configure(options);
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddTeleportHostWorker(options);
        IHost host = builder.Build();
        await host.StartAsync();
        return new HostWorkerRunner(host, options);
    }

    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync();
        _host.Dispose();
    }
}
