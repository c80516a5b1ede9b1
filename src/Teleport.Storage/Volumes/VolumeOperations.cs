using System.Net;
using MassTransit;
using Microsoft.Extensions.Logging;
using Teleport.Contracts;
using Teleport.Storage.Indexing;
using Teleport.Storage.Migrations;
using Teleport.Storage.Worker;

namespace Teleport.Storage.Volumes;

/// <summary>
/// CreateVolume and DeleteVolume from the worker's queue. Create makes a sparse volume and exports it; a repeat with
/// the same size is acknowledged again, another size is refused. Delete is refused while a migration or an NBD client
/// uses the volume; it unexports, deletes the file and its migration state, and drops it from the index.
/// </summary>
public sealed class VolumeOperations(StorageWorkerOptions options, VolumeStore store, NbdExportService exports,
    StorageMigrations migrations, VolumeIndexer? indexer, Func<IPublishEndpoint> bus, ILogger<VolumeOperations> log)
{
    public const string Create = "Create";
    public const string Delete = "Delete";

    /// <summary>Largest volume: what a 44-bit block number of 64 KiB blocks addresses is far beyond this; 1 PiB is a sane cap.</summary>
    public const long MaxSizeBytes = 1L << 50;

    private readonly Lock _gate = new();

    public Task CreateAsync(CreateVolume command) => ReplyAsync(command.RequestId, command.VolumeId, Create, () => DoCreate(command),
        reason => log.LogError("CreateVolume {Volume} ({Bytes} bytes) refused: {Reason}", command.VolumeId, command.SizeBytes, reason));

    private VolumeCreated DoCreate(CreateVolume command)
    {
        CheckStorage(command.StorageId);
        VolumeStore.Validate(command.VolumeId);
        if (command.SizeBytes <= 0 || command.SizeBytes > MaxSizeBytes || command.SizeBytes % 512 != 0)
            throw new ArgumentException($"size {command.SizeBytes} is not a positive multiple of 512 bytes up to {MaxSizeBytes}");
        var endpoint = exports.EndPoint as IPEndPoint
            ?? throw new InvalidOperationException($"storage '{options.StorageId}' does not serve NBD yet (not started)");
        bool existed = store.Exists(command.VolumeId);
        if (existed)
        {
            if (store.IsIncoming(command.VolumeId) || migrations.UsingVolume(command.VolumeId) is not null)
                throw new InvalidOperationException($"volume '{command.VolumeId}' is being received by a migration");
            long size = new FileInfo(store.PathOf(command.VolumeId)).Length;
            if (size != command.SizeBytes)
                throw new InvalidOperationException($"volume '{command.VolumeId}' already exists with {size} bytes, not {command.SizeBytes}");
        }
        else
        {
            store.Create(command.VolumeId, command.SizeBytes);
        }

        exports.Export(command.VolumeId);
        log.LogInformation("Volume {Volume} of {Bytes} bytes {What}", command.VolumeId, command.SizeBytes, existed ? "exists already" : "created");
        return new VolumeCreated(command.RequestId, options.StorageId, command.VolumeId, command.SizeBytes, existed, options.Advertise(endpoint),
            command.VolumeId, DateTimeOffset.UtcNow);
    }

    public Task DeleteAsync(DeleteVolume command) => ReplyAsync(command.RequestId, command.VolumeId, Delete, () => DoDelete(command),
        reason => log.LogError("DeleteVolume {Volume} refused: {Reason}", command.VolumeId, reason));

    // One operation at a time; a refused one is answered with VolumeOperationFailed and its reason.
    private Task ReplyAsync(Guid requestId, string volumeId, string operation, Func<object> run, Action<string> refused)
    {
        object reply;
        try
        {
            lock (_gate)
                reply = run();
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException or UnauthorizedAccessException)
        {
            refused(e.Message);
            reply = new VolumeOperationFailed(requestId, options.StorageId, volumeId, operation, e.Message, DateTimeOffset.UtcNow);
        }

        return bus().Publish(reply, reply.GetType());
    }

    private VolumeDeleted DoDelete(DeleteVolume command)
    {
        CheckStorage(command.StorageId);
        VolumeStore.Validate(command.VolumeId);
        if (migrations.UsingVolume(command.VolumeId) is { } migration)
            throw new InvalidOperationException($"volume '{command.VolumeId}' is used by migration {migration}");
        int clients = exports.ClientsOf(command.VolumeId);
        if (clients > 0)
            throw new InvalidOperationException($"volume '{command.VolumeId}' has {clients} NBD client(s) attached");
        exports.Unexport(command.VolumeId);
        string path = store.PathOf(command.VolumeId);
        bool existed = store.Delete(command.VolumeId);
        indexer?.Forget(path);
        log.LogInformation("Volume {Volume} {What}", command.VolumeId, existed ? "deleted" : "did not exist");
        return new VolumeDeleted(command.RequestId, options.StorageId, command.VolumeId, existed, DateTimeOffset.UtcNow);
    }

    private void CheckStorage(string storageId)
    {
        if (!string.Equals(storageId, options.StorageId, StringComparison.Ordinal))
            throw new ArgumentException($"a command for storage '{storageId}' reached storage '{options.StorageId}'");
    }
}
