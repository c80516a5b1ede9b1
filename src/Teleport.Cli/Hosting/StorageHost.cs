using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Serilog;
using Teleport.Cli.Infrastructure;
using Teleport.Contracts;
using Teleport.Messaging;
using Teleport.Storage.Security;
using Teleport.Storage.Worker;

namespace Teleport.Cli.Hosting;

/// <summary>Builds the storage worker's generic host: configuration from JSON, TELEPORT_* variables and flags; Serilog logging.</summary>
public static class StorageHost
{
    /// <summary>Binds and checks the options, says what starts and builds the host.</summary>
    public static RoleHost Create(IConfiguration configuration)
    {
        var options = Options(configuration);
        var host = Build(configuration, options);
        Log.Information("Storage worker {StorageId} starting: volumes in {Volumes}, NBD on {Nbd}, commands on {Queue}, bus {Bus}",
            options.StorageId, options.VolumeDirectory, options.NbdListen, WorkerQueues.Storage(options.StorageId),
            BusAddress.Parse(options.Bus, "Storage:Bus"));
        return new RoleHost(host, $"Storage worker {options.StorageId}", options.StopTimeout + TimeSpan.FromSeconds(30));
    }

    /// <summary>The bound and validated options; a bad setting is the operator's to fix.</summary>
    public static StorageWorkerOptions Options(IConfiguration configuration)
    {
        var options = RoleConfiguration.Bind<StorageWorkerOptions>(configuration, StorageWorkerOptions.SectionName, o => o.Validate());
        // A mistyped directory would otherwise start a worker that serves nothing.
        if (!Directory.Exists(options.VolumeDirectory))
            throw new UserInputException($"volume directory '{options.VolumeDirectory}' does not exist");
        if (options.DataTlsDirectory is { Length: > 0 } tlsDirectory)
        {
            try
            {
                DataChannelIdentity.Load(tlsDirectory, options.StorageId).Dispose();
            }
            catch (ArgumentException e)
            {
                throw new UserInputException(e.Message);
            }
        }
        else if (options.DataChannelTls && options.TlsCertificate is not null)
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
        var builder = RoleConfiguration.CreateBuilder("teleport-storage", configuration);
        // Log.Logger was set up from --log-format/--verbose; MigrationId arrives through logger scopes.
        builder.Services.AddSerilog(Log.Logger, dispose: false);
        builder.Services.AddTeleportStorageWorker(options);
        return builder.Build();
    }
}
