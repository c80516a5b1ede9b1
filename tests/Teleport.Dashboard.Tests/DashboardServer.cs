using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Teleport.Messaging.Http;

namespace Teleport.Dashboard.Tests;

/// <summary>
/// A minimal HTTP listener on a free loopback port that maps every <see cref="IHttpEndpoints"/> a role registered,
/// as the role's own listener (<c>--http-listen</c>) does: the handlers run on the role's services.
/// </summary>
public sealed class DashboardServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private DashboardServer(WebApplication app, Uri address)
    {
        _app = app;
        Address = address;
    }

    /// <summary>The base address, ending in '/'.</summary>
    public Uri Address { get; }

    public static async Task<DashboardServer> StartAsync(IServiceProvider role)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        int port = FreePort.Next();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        var app = builder.Build();
        foreach (var endpoints in role.GetServices<IHttpEndpoints>())
            endpoints.Map(app);
        await app.StartAsync();
        return new DashboardServer(app, new Uri($"http://127.0.0.1:{port}/"));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
