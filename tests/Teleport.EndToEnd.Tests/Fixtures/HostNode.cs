using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Teleport.Host.Worker;

namespace Teleport.EndToEnd.Tests.Fixtures;

/// <summary>A standalone host worker (its own bus on the test broker).</summary>
public sealed class HostNode : InProcessHost
{
    private HostNode(IHost host, HostWorkerOptions options)
        : base(host)
    {
        Options = options;
    }

    public HostWorkerOptions Options { get; }

    public string Id => Options.HostId;

    public HostWorkerNode Node => Services.GetRequiredKeyedService<HostWorkerNode>(Id);

    /// <param name="bus">The host role's Bus setting; by default the test broker as the host user.</param>
    public static async Task<HostNode> StartAsync(HostWorkerOptions options, ILoggerProvider? logs = null, string? bus = null)
    {
        options.Bus = bus ?? TestBroker.Host;
        var host = await StartHostAsync(services => services.AddTeleportHostWorker(options), logs);
        return new HostNode(host, options);
    }
}
