using Teleport.Contracts;

namespace Teleport.Storage.Tests.Worker;

/// <summary>Two storage workers (source with a 16 MiB volume "lamp", empty destination) and the saga stand-in, on the real broker.</summary>
public sealed class MigrationRig : IAsyncDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(90);

    private MigrationRig(string root, SagaStandIn saga, WorkerHost source, WorkerHost destination)
    {
        Root = root;
        Saga = saga;
        Source = source;
        Destination = destination;
    }

    public string Root { get; }

    public SagaStandIn Saga { get; }

    public WorkerHost Source { get; }

    public WorkerHost Destination { get; }

    public EventLog Log => Saga.Log;

    public string SourceVolume => Path.Combine(Source.Options.VolumeDirectory, "lamp.img");

    public string DestinationVolume => Path.Combine(Destination.Options.VolumeDirectory, "lamp.img");

    public static async Task<MigrationRig> Start()
    {
        var root = Directory.CreateTempSubdirectory("teleport-storage-rig-").FullName;
        var src = Directory.CreateDirectory(Path.Combine(root, "src")).FullName;
        var dst = Directory.CreateDirectory(Path.Combine(root, "dst")).FullName;
        BusMigrationTests.WriteVolumes(Path.Combine(src, "lamp.img"), null);
        string run = Guid.NewGuid().ToString("N")[..8];
        var saga = await SagaStandIn.Start();
        var source = await WorkerHost.Start($"src-{run}", src);
        var destination = await WorkerHost.Start($"dst-{run}", dst);
        return new MigrationRig(root, saga, source, destination);
    }

    public Task Prepare(Guid id, MigrationOptions options, string volume = "lamp") =>
        Saga.Send(Destination.Id, new PrepareDestination(id, volume, Source.Id, Destination.Id, options));

    public Task StartTransfer(Guid id, DestinationPrepared prepared, MigrationOptions options, string volume = "lamp") =>
        Saga.Send(Source.Id, new StartTransfer(id, volume, Source.Id, Destination.Id, prepared.DataEndpoint, prepared.Secret, null, options));

    public Task FinalSync(Guid id) => Saga.Send(Source.Id, new FinalSync(id, "lamp", Source.Id));

    public Task Abort(Guid id, string storageId) => Saga.Send(storageId, new AbortTransfer(id, "lamp", storageId, "test rollback"));

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
