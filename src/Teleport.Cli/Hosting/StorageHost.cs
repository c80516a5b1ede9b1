using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Serilog;
using Teleport.Cli.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using Teleport.Storage.Security;
using Teleport.Storage.Worker;

namespace Teleport.Cli.Hosting;

/// <summary>Builds the storage worker's generic host: configuration from JSON, TELEPORT_* variables and flags; Serilog logging.</summary>
public static class StorageHost
{
    public const string EnvironmentPrefix = "TELEPORT_";

    /// <summary>Reads the settings in increasing precedence: <paramref name="configFile"/>, environment, <paramref name="overrides"/>.</summary>
    public static IConfiguration ReadConfiguration(string? configFile, IReadOnlyDictionary<string, string?> overrides)
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

    /// <summary>The bound and validated options; a bad setting is the operator's to fix.</summary>
    public static StorageWorkerOptions Options(IConfiguration configuration)
    {
        var options = new StorageWorkerOptions();
        try
        {
            configuration.GetSection(StorageWorkerOptions.SectionName).Bind(options);
            options.Validate();
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException)
        {
            throw new UserInputException(e.Message);
        }

        // A mistyped directory would otherwise start a worker that serves nothing.
        if (!Directory.Exists(options.VolumeDirectory))
            throw new UserInputException($"volume directory '{options.VolumeDirectory}' does not exist");
        if (options.DataChannelTls && options.TlsCertificate is not null)
        {
            // A configured certificate that cannot be used is a bad setting, reported before anything starts.
            try
            {
                DataChannelCertificate.Load(options, NullLogger.Instance).Dispose();
            }
            catch (ArgumentException e)
            {
                throw new UserInputException(e.Message);
            }
        }

        return options;
    }

    public static IHost Build(IConfiguration configuration, StorageWorkerOptions options)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { ApplicationName = "teleport-storage" });
        builder.Configuration.AddConfiguration(configuration);
        // Log.Logger was set up from --log-format/--verbose; MigrationId arrives through logger scopes.
        builder.Services.AddSerilog(Log.Logger, dispose: false);
        builder.Services.AddTeleportStorageWorker(options);
        return builder.Build();
    }
}
