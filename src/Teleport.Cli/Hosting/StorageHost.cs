using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Serilog;
using Teleport.Cli.Hosting.Http;
using Teleport.Contracts;
using Teleport.Messaging;
using Teleport.Storage.Security;
using Teleport.Storage.Worker;

namespace Teleport.Cli.Hosting;

/// <summary>Builds the storage worker's generic host: configuration from JSON, TELEPORT_* variables and flags; Serilog logging.</summary>
public sealed class StorageHost() : RoleHostFactory<StorageWorkerOptions>(StorageWorkerOptions.SectionName, "teleport-storage")
{
    protected override void Validate(StorageWorkerOptions options)
    {
        options.Validate();
        // A mistyped directory would otherwise start a worker that serves nothing.
        if (!Directory.Exists(options.VolumeDirectory))
            throw new UserInputException($"volume directory '{options.VolumeDirectory}' does not exist");
        // Certificates that cannot be used are a bad setting, reported before anything starts.
        if (options.DataTlsDirectory is { Length: > 0 } tlsDirectory)
            DataChannelIdentity.Load(tlsDirectory, options.StorageId).Dispose();
        else if (options.DataChannelTls && options.TlsCertificate is not null)
            DataChannelCertificate.Load(options, NullLogger.Instance).Dispose();
    }

    protected override void AddServices(IServiceCollection services, StorageWorkerOptions options) => services.AddTeleportStorageWorker(options);

    protected override void AddReadiness(IHealthChecksBuilder checks, StorageWorkerOptions options) => StorageReadiness.Add(checks);

    protected override RoleHost Announce(IHost host, StorageWorkerOptions options)
    {
        Log.Information("Storage worker {StorageId} starting: volumes in {Volumes}, NBD on {Nbd}, commands on {Queue}, bus {Bus}",
            options.StorageId, options.VolumeDirectory, options.NbdListen, WorkerQueues.Storage(options.StorageId),
            BusAddress.Parse(options.Bus, "Storage:Bus"));
        return new RoleHost(host, $"Storage worker {options.StorageId}", options.StopTimeout + TimeSpan.FromSeconds(30));
    }
}
