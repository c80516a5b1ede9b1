using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;

namespace Teleport.Cli.Hosting;

/// <summary>
/// The settings of a role (storage, host, orchestrator): a JSON file, TELEPORT_* variables and flags, bound to the
/// role's options, and the generic host built on them.
/// </summary>
public static class RoleConfiguration
{
    public const string EnvironmentPrefix = "TELEPORT_";

    /// <summary>Reads the settings in increasing precedence: <paramref name="configFile"/>, environment, <paramref name="overrides"/>.</summary>
    public static IConfiguration Read(string? configFile, IReadOnlyDictionary<string, string?> overrides)
    {
        var builder = new ConfigurationBuilder();
        if (configFile is not null)
        {
            if (!File.Exists(configFile))
                throw new UserInputException($"settings file '{configFile}' does not exist");
            builder.AddJsonFile(Path.GetFullPath(configFile), optional: false);
        }

        return builder.AddEnvironmentVariables(EnvironmentPrefix).AddInMemoryCollection(overrides).Build();
    }

    /// <summary>The options bound from <paramref name="section"/> and validated; a bad setting is the operator's to fix.</summary>
    public static TOptions Bind<TOptions>(IConfiguration configuration, string section, Action<TOptions>? validate = null)
        where TOptions : new()
    {
        var options = new TOptions();
        try
        {
            configuration.GetSection(section).Bind(options);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            // The binder names the key but not the file it came from: say which settings it was.
            throw new UserInputException($"{section} settings: {e.Message}");
        }

        try
        {
            validate?.Invoke(options);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException)
        {
            throw new UserInputException(e.Message);
        }

        return options;
    }

    /// <summary>
    /// An empty generic host builder (no appsettings.json, no DOTNET_ variables): a role reads only what
    /// <see cref="Read"/> gathered.
    /// </summary>
    public static HostApplicationBuilder CreateBuilder(string applicationName, IConfiguration? configuration = null)
    {
        // Spelled out: inside Teleport.*, the simple name Host is the Teleport.Host namespace.
        var builder = Microsoft.Extensions.Hosting.Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { ApplicationName = applicationName });
        if (configuration is not null)
            builder.Configuration.AddConfiguration(configuration);
        return builder;
    }
}
