using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Teleport.Testing;

/// <summary>
/// A worker (storage, host, orchestrator) running in a generic host inside the test process; stopped on dispose.
/// Derived runners add the worker's options and the services a test reaches.
/// </summary>
public abstract class InProcessHost : IAsyncDisposable
{
    private readonly IHost _host;

    protected InProcessHost(IHost host)
    {
        _host = host;
    }

    public IServiceProvider Services => _host.Services;

    /// <summary>
    /// Builds and starts a host with <paramref name="addServices"/>; it logs nowhere, or to <paramref name="logs"/>
    /// from Debug up.
    /// </summary>
    protected static async Task<IHost> StartHostAsync(Action<IServiceCollection> addServices, ILoggerProvider? logs = null)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        if (logs is not null)
        {
            builder.Logging.AddProvider(logs).SetMinimumLevel(LogLevel.Debug);
        }

        addServices(builder.Services);
        var host = builder.Build();
        await host.StartAsync();
        return host;
    }

    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync();
        _host.Dispose();
        GC.SuppressFinalize(this);
    }
}
