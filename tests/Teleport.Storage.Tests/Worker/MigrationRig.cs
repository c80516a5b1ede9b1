using Teleport.Contracts;
using Teleport.Storage.Worker;

namespace Teleport.Storage.Tests.Worker;

/// <summary>Two storage workers (source with a 16 MiB volume "lamp", empty destination) and the saga stand-in, on the real broker.</summary>
public sealed class MigrationRig : IAsyncDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(90);

    private MigrationRig(string root, SagaStandIn saga, WorkerHost source, WorkerHost destination, Action<StorageWorkerOptions>? configure)
    {
        Root = root;
        Saga = saga;
        Source = source;
        Destination = destination;
        _configure = configure;
    }

    private readonly Action<StorageWorkerOptions>? _configure;

    public string Root { get; }

    public SagaStandIn Saga { get; }

    public WorkerHost Source { get; private set; }

    public WorkerHost Destination { get; private set; }

    public EventLog Log => Saga.Log;

    public string SourceVolume => Path.Combine(Source.Options.VolumeDirectory, "lamp.img");

    public string DestinationVolume => Path.Combine(Destination.Options.VolumeDirectory, "lamp.img");

    public static async Task<MigrationRig> Start(Action<StorageWorkerOptions>? configure = null)
    {
        string root = Directory.CreateTempSubdirectory("teleport-storage-rig-").FullName;
        string src = Directory.CreateDirectory(Path.Combine(root, "src")).FullName;
        string dst = Directory.CreateDirectory(Path.Combine(root, "dst")).FullName;
        BusMigrationTests.WriteVolumes(Path.Combine(src, "lamp.img"), null);
        string run = Guid.NewGuid().ToString("N")[..8];
        var saga = await SagaStandIn.Start();
        var source = await WorkerHost.Start($"src-{run}", src, configure: configure);
        var destination = await WorkerHost.Start($"dst-{run}", dst, configure: configure);
        return new MigrationRig(root, saga, source, destination, configure);
    }

    public Task Prepare(Guid id, MigrationOptions options, string volume = "lamp", int attempt = 1) =>
        Saga.Send(Destination.Id, new PrepareDestination(id, volume, Source.Id, Destination.Id, options, attempt));

    public Task StartTransfer(Guid id, DestinationPrepared prepared, MigrationOptions options, string volume = "lamp", int attempt = 1) =>
        Saga.Send(Source.Id, new StartTransfer(id, volume, Source.Id, Destination.Id, prepared.DataEndpoint, prepared.Secret, prepared.CertificateSha256,
            options, attempt));

    public Task FinalSync(Guid id, int attempt = 1) => Saga.Send(Source.Id, new FinalSync(id, "lamp", Source.Id, attempt));

    public Task Abort(Guid id, string storageId, int attempt = 1) => Saga.Send(storageId, new AbortTransfer(id, "lamp", storageId, "test rollback", attempt));

    /// <summary>Stops the source worker and starts it again on the same id and directories (a restart of the process).</summary>
    public async Task RestartSource()
    {
        await Source.DisposeAsync();
        Source = await WorkerHost.Start(Source.Id, Source.Options.VolumeDirectory, configure: _configure);
    }

    public async Task RestartDestination()
    {
        await Destination.DisposeAsync();
        Destination = await WorkerHost.Start(Destination.Id, Destination.Options.VolumeDirectory, configure: _configure);
    }

    /// <summary>Events of this migration that arrived, after a pause long enough for stragglers on the broker.</summary>
    public async Task<IReadOnlyList<T>> Settled<T>(Guid id)
        where T : class
    {
        await Task.Delay(TimeSpan.FromSeconds(1));
        return Log.All<T>(e => MigrationIdOf(e) == id);
    }

    private static Guid MigrationIdOf(object e) => (Guid)e.GetType().GetProperty("MigrationId")!.GetValue(e)!;

    public async ValueTask DisposeAsync()
    {
        await Destination.DisposeAsync();
        await Source.DisposeAsync();
        await Saga.DisposeAsync();
        Directory.Delete(Root, recursive: true);
    }
}
