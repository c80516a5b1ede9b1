using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry.Metrics;
using Serilog;
using Teleport.Cli.Hosting.Http;

namespace Teleport.Cli.Hosting;

/// <summary>
/// The one way a role (storage, host, orchestrator) gets its generic host: options bound from the role's section and
/// checked, an empty host with Serilog logging and the role's services, then a line saying what starts.
/// </summary>
/// <param name="section">The role's configuration section, e.g. "Storage".</param>
/// <param name="applicationName">The generic host's application name, e.g. "teleport-storage".</param>
public abstract class RoleHostFactory<TOptions>(string section, string applicationName)
    where TOptions : new()
{
    /// <summary>Binds and checks the options, builds the host and says what starts.</summary>
    public RoleHost Create(IConfiguration configuration)
    {
        var options = Options(configuration);
        return Announce(Build(configuration, options), options);
    }

    /// <summary>The bound and validated options; a bad setting is the operator's to fix.</summary>
    public TOptions Options(IConfiguration configuration) => RoleConfiguration.Bind<TOptions>(configuration, section, Validate);

    /// <summary>
    /// The role's host; with HttpListen set (<c>--http-listen</c>), a web application that also serves metrics, health
    /// and readiness (<see cref="RoleHttpListener"/>).
    /// </summary>
    /// <exception cref="UserInputException">A bad HttpListen.</exception>
    public IHost Build(IConfiguration configuration, TOptions options)
    {
        var listen = HttpListenSetting.Read(configuration, section);
        if (listen is null)
        {
            var builder = RoleConfiguration.CreateBuilder(applicationName, configuration);
            AddLogging(builder.Services);
            AddServices(builder.Services, options);
            return builder.Build();
        }

        var web = RoleHttpListener.CreateBuilder(applicationName, configuration, listen, AddMetrics);
        AddLogging(web.Services);
        AddServices(web.Services, options);
        AddReadiness(web.Services.AddHealthChecks(), options);
        return RoleHttpListener.Build(web, listen);
    }

    /// <summary>
    /// Checks the bound options: an <see cref="ArgumentException"/> (or a UserInputException) is reported to the
    /// operator as a bad setting.
    /// </summary>
    protected abstract void Validate(TOptions options);

    /// <summary>Log.Logger was set up from --log-format/--verbose; MigrationId arrives through logger scopes.</summary>
    protected virtual void AddLogging(IServiceCollection services) => services.AddSerilog(Log.Logger, dispose: false);

    protected abstract void AddServices(IServiceCollection services, TOptions options);

    /// <summary>The role's checks behind /readyz, beside the bus's own (MassTransit registers it, tagged "ready").</summary>
    protected abstract void AddReadiness(IHealthChecksBuilder checks, TOptions options);

    /// <summary>Metric sources the meter provider resolves when it starts (so their instruments exist from the start).</summary>
    protected virtual void AddMetrics(MeterProviderBuilder metrics)
    {
    }

    /// <summary>Logs what starts and names the built host with its stop timeout.</summary>
    protected abstract RoleHost Announce(IHost host, TOptions options);
}
