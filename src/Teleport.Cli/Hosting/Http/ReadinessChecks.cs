using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Teleport.Cli.Hosting.Http;

/// <summary>Registers a role's readiness checks: the ones /readyz runs (tag "ready", as MassTransit's bus check has).</summary>
public static class ReadinessChecks
{
    public const string Tag = "ready";

    /// <summary>Longest one check may take; past it /readyz reports it unhealthy.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    /// <summary>Adds check <paramref name="name"/> that runs <paramref name="check"/> with the role's services.</summary>
    public static IHealthChecksBuilder AddReadiness(
        this IHealthChecksBuilder checks, string name, Func<IServiceProvider, CancellationToken, Task<HealthCheckResult>> check) =>
        checks.Add(new HealthCheckRegistration(name, services => new Check(services, check), HealthStatus.Unhealthy, [Tag], Timeout));

    private sealed class Check(IServiceProvider services, Func<IServiceProvider, CancellationToken, Task<HealthCheckResult>> check) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
            check(services, cancellationToken);
    }
}
