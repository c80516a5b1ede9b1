using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Teleport.Host.Worker;

namespace Teleport.EndToEnd.Tests.Fixtures;

/// <summary>A standalone host worker (its own bus on the test broker).</summary>
public sealed class HostNode : IAsyncDisposable
{
    private readonly IHost _host;

    private HostNode(IHost host, HostWorkerOptions options)
    {
        _host = host;
        Options = options;
    }

    public HostWorkerOptions Options { get; }

    public string Id => Options.HostId;

    public HostWorkerNode Node => _host.Services.GetRequiredKeyedService<HostWorkerNode>(Id);

    public static async Task<HostNode> StartAsync(HostWorkerOptions options, ILoggerProvider? logs = null)
    {
        options.Bus = TestEnvironment.RabbitMq;
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        if (logs is not null)
            builder.Logging.AddProvider(logs).SetMinimumLevel(LogLevel.Debug);
        builder.Services.AddTeleportHostWorker(options);
        IHost host = builder.Build();
        await host.StartAsync();
        return new HostNode(host, options);
    }

    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync();
        _host.Dispose();
    }
}
