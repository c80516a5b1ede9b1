using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using OpenTelemetry.Metrics;
using Serilog;
using Teleport.Messaging.Http;

namespace Teleport.Cli.Hosting.Http;

/// <summary>
/// A role's one HTTP listener (Kestrel): <c>/metrics</c> (Prometheus text from every Teleport meter through
/// OpenTelemetry), <c>/healthz</c> (the process answers), <c>/readyz</c> (every check tagged "ready": the bus and the
/// role's own) and whatever <see cref="IHttpEndpoints"/> the role registered. The role's generic host becomes this
/// web application's host: one container, one lifetime.
/// </summary>
public static class RoleHttpListener
{
    /// <summary>Every Teleport meter: Orchestrator, Storage, Host, Nbd, Transfer.</summary>
    public const string Meters = "Teleport.*";

    /// <summary>An empty web application builder (no appsettings, no default URLs) on <paramref name="configuration"/>.</summary>
    public static WebApplicationBuilder CreateBuilder(string applicationName, IConfiguration configuration, IPEndPoint listen, Action<MeterProviderBuilder>? metrics)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = applicationName });
        builder.Configuration.AddConfiguration(configuration);
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(listen);
            kestrel.AddServerHeader = false;
            // Read-only pages for operators and a scraper: a few connections, small requests.
            kestrel.Limits.MaxConcurrentConnections = 64;
            kestrel.Limits.MaxRequestBodySize = 64 * 1024;
            kestrel.Limits.MaxRequestHeadersTotalSize = 16 * 1024;
            kestrel.Limits.KeepAliveTimeout = TimeSpan.FromSeconds(60);
            kestrel.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(10);
        });
        builder.Services.AddRoutingCore();
        builder.Services.AddHealthChecks();
        builder.Services.AddOpenTelemetry().WithMetrics(m =>
        {
            m.AddMeter(Meters).AddPrometheusExporter();
            metrics?.Invoke(m);
        });
        return builder;
    }

    /// <summary>Builds the application and maps the endpoints.</summary>
    public static WebApplication Build(WebApplicationBuilder builder, IPEndPoint listen)
    {
        var app = builder.Build();
        app.MapPrometheusScrapingEndpoint("/metrics");
        // Liveness runs no check: an answer means the process serves requests.
        app.MapHealthChecks("/healthz", Health(_ => false));
        app.MapHealthChecks("/readyz", Health(r => r.Tags.Contains(ReadinessChecks.Tag)));
        foreach (var endpoints in app.Services.GetServices<IHttpEndpoints>())
            endpoints.Map(app);
        Log.Information("HTTP on {Listen}: /metrics, /healthz, /readyz", listen);
        return app;
    }

    private static HealthCheckOptions Health(Func<HealthCheckRegistration, bool> predicate) => new()
    {
        Predicate = predicate,
        ResponseWriter = HealthJson.WriteAsync,
        ResultStatusCodes =
        {
            [HealthStatus.Healthy] = StatusCodes.Status200OK,
            [HealthStatus.Degraded] = StatusCodes.Status503ServiceUnavailable,
            [HealthStatus.Unhealthy] = StatusCodes.Status503ServiceUnavailable,
        },
    };
}
