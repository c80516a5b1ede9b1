using Microsoft.Extensions.Configuration;
using Teleport.Cli.Hosting;
using Teleport.Cli.Hosting.Http;

namespace Teleport.Cli.Commands;

/// <summary>
/// Options every role (storage, host, orchestrator) takes. Every flag overrides the same key of the role's section
/// read from --config and from TELEPORT_SECTION__KEY environment variables.
/// </summary>
public abstract class RoleSettings : GlobalSettings
{
    [CommandOption("--config <FILE>")]
    [Description("JSON settings file, appsettings style: the role's section (\"Storage\", \"Host\" or \"Orchestrator\") holds the same keys as the flags and TELEPORT_SECTION__KEY variables.")]
    public string? ConfigFile { get; init; }

    [CommandOption("--bus <BUS>")]
    [Description("'memory' (default) or rabbitmq://user:pass@HOST:PORT/ (amqp:// works too).")]
    public string? Bus { get; init; }

    [CommandOption("--http-listen <ADDR:PORT>")]
    [Description("Serve /metrics (Prometheus), /healthz and /readyz over HTTP on ADDR:PORT, e.g. 127.0.0.1:9464 (default: no HTTP listener).")]
    public string? HttpListen { get; init; }

    /// <summary>The role's configuration section: "Storage", "Host" or "Orchestrator".</summary>
    protected abstract string Section { get; }

    /// <summary>The settings file, the environment and the flags, in increasing precedence.</summary>
    public IConfiguration Configuration() => RoleConfiguration.Read(ConfigFile, Overrides());

    /// <summary>The flags given, as configuration keys.</summary>
    public virtual IReadOnlyDictionary<string, string?> Overrides()
    {
        var keys = new Dictionary<string, string?>();
        foreach (var (key, value) in Flags().Append(("Bus", Bus)).Append((HttpListenSetting.Key, HttpListen)))
        {
            if (value is not null)
                keys[$"{Section}:{key}"] = value;
        }

        return keys;
    }

    /// <summary>The role's own flags as (key in its section, value or null when not given).</summary>
    protected abstract IEnumerable<(string Key, string? Value)> Flags();
}
