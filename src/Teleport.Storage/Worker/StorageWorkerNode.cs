using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Teleport.Blocks;
using Teleport.Storage.Indexing;
using Teleport.Storage.Migrations;
using Teleport.Storage.Retention;
using Teleport.Storage.Security;
using Teleport.Storage.Volumes;
using Teleport.Transfer.Buddies;

namespace Teleport.Storage.Worker;

/// <summary>
/// One storage worker without a bus: its volumes, NBD exports, index and indexer, data-channel certificate and
/// migrations. Several can live in one container (keyed by StorageId, see
/// <see cref="StorageWorkerRegistration.AddStorageWorkerNode"/>); it publishes through the container's bus, resolved
/// when the first event goes out. As a hosted service it serves NBD on start; it stops its migrations when the
/// application starts stopping (while the bus can still publish), then the indexer and the NBD server.
/// </summary>
public sealed class StorageWorkerNode : IHostedService, IAsyncDisposable
{
    private readonly IServiceProvider _services;
    private readonly ILogger<StorageWorkerNode> _log;
    private readonly CancellationTokenSource _stopping = new();
    private Task _reporting = Task.CompletedTask;
    private Task? _migrationsStopped;
    private CancellationTokenRegistration _onStarted, _onStopping;
    private int _disposed;

    public StorageWorkerNode(StorageWorkerOptions options, IServiceProvider services)
    {
        options.Validate();
        Options = options;
        _services = services;
        var loggers = services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance;
        _log = loggers.CreateLogger<StorageWorkerNode>();
        Func<IPublishEndpoint> bus = () => services.GetRequiredService<IBus>();

        Store = new VolumeStore(options.VolumeDirectory);
        Volumes = new VolumeTrackers();
        Index = options.IndexDirectory is null ? null : BlockIndex.Open(options.IndexDirectory, options.BlockSize);
        if (Index is not null)
            Index.ReadEntriesDirect = options.IndexReadsDirect;
        Indexer = Index is not null && options.IndexVolumes
            ? new VolumeIndexer(options, Index, Volumes, loggers.CreateLogger<VolumeIndexer>())
            : null;
        var indexer = Indexer;
        Exports = new NbdExportService(options, Store, Volumes, loggers, indexer is null ? null : indexer.Written);
        DataChannel = DataChannelSecurity.Load(options, _log);
        var journal = new MigrationJournal(options.EffectiveStateDirectory, loggers.CreateLogger<MigrationJournal>());
        Migrations = new StorageMigrations(options, Store, Volumes, Exports, bus, loggers, Index, DataChannel, journal);
        Retention = new RetainedCopies(options, Store, Exports, Index, services.GetService<TimeProvider>() ?? TimeProvider.System,
            () => Migrations.ReceivingAny, loggers.CreateLogger<RetainedCopies>());
        VolumeOperations = new VolumeOperations(options, Store, Exports, Migrations, Indexer, bus, loggers.CreateLogger<VolumeOperations>());
        Metrics = new StorageWorkerMetrics(options.StorageId, Migrations, Index);
        BuddyServer = options.Buddies.ForServer(DataChannel.Mutual, Index) is { } buddies
            ? new BuddyServer(buddies, loggers.CreateLogger<BuddyServer>())
            : null;
    }

    /// <summary>Answers the buddies' lookups from <see cref="Index"/> (null unless Storage:Buddies:Listen is set).</summary>
    public BuddyServer? BuddyServer { get; }

    public StorageWorkerOptions Options { get; }

    public string StorageId => Options.StorageId;

    public VolumeStore Store { get; }

    /// <summary>The served volumes with their dirty trackers.</summary>
    public VolumeTrackers Volumes { get; }

    public NbdExportService Exports { get; }

    public StorageMigrations Migrations { get; }

    public VolumeOperations VolumeOperations { get; }

    /// <summary>The content index (null without Storage:IndexDirectory).</summary>
    public BlockIndex? Index { get; }

    /// <summary>Volumes moved away and kept for a move back (see Storage:RetentionPeriod).</summary>
    public RetainedCopies Retention { get; }

    /// <summary>Keeps <see cref="Index"/> current with the served volumes (null without an index or with IndexVolumes off).</summary>
    public VolumeIndexer? Indexer { get; }

    /// <summary>This worker's metrics (meter "Teleport.Storage"), read when an exporter collects.</summary>
    public StorageWorkerMetrics Metrics { get; }

    /// <summary>How the data channel is secured (mutual TLS, pinned or off) and which peers volumes may go to.</summary>
    public DataChannelSecurity DataChannel { get; }

    /// <summary>The pinned mode's certificate (null with mutual TLS or DataChannelTls off).</summary>
    public DataChannelCertificate? Certificate => DataChannel.Pinned;

    /// <summary>The consumers for this node's queue (bound to this node, not resolved from the container).</summary>
    public StorageCommandConsumer CommandConsumer() => new(Migrations, (volume, migration) => Retention.Retain(volume, migration));

    public VolumeCommandConsumer VolumeConsumer() => new(VolumeOperations);

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        Migrations.LoadJournal();
        await Exports.StartAsync(cancellationToken).ConfigureAwait(false);
        Indexer?.Start();
        Retention.Start();
        BuddyServer?.Start();
        var lifetime = _services.GetService<IHostApplicationLifetime>();
        if (lifetime is not null)
        {
            // Interrupted migrations are reported once the bus runs (it may be registered after this node).
            _onStarted = lifetime.ApplicationStarted.Register(() => _reporting = Task.Run(() => ReportAsync(TimeSpan.Zero)));
            _onStopping = lifetime.ApplicationStopping.Register(() => _migrationsStopped ??= Migrations.StopAsync());
        }
        else
        {
            _reporting = Task.Run(() => ReportAsync(TimeSpan.FromSeconds(1)));
        }

        _log.LogInformation("Storage worker {StorageId}: {Volumes} volumes, NBD on {Nbd}, data channel TLS {Tls}, index {Index}",
            StorageId, Volumes.List().Count, Exports.EndPoint, DataChannel.Describe, Index?.FilePath ?? "none");
    }

    private async Task ReportAsync(TimeSpan delay)
    {
        try
        {
            await Task.Delay(delay, _stopping.Token).ConfigureAwait(false);
            await Migrations.ReportInterruptedAsync(_stopping.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Stopped before the bus came up: the journal still has them for the next start.
        }
        catch (Exception e)
        {
            _log.LogError(e, "Could not report the migrations a restart interrupted");
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _onStarted.DisposeAsync().ConfigureAwait(false);
        await _onStopping.DisposeAsync().ConfigureAwait(false);
        await (_migrationsStopped ??= Migrations.StopAsync()).ConfigureAwait(false);
        await _reporting.ConfigureAwait(false);
        await Retention.StopAsync().ConfigureAwait(false);
        if (Indexer is not null)
            await Indexer.StopAsync().ConfigureAwait(false);
        Index?.Save();
        await Exports.StopAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        // The container hands the same node out as a keyed service and as a hosted service: it may dispose it twice.
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
            return;
        Metrics.Dispose();
        if (BuddyServer is not null)
            await BuddyServer.DisposeAsync().ConfigureAwait(false);
        await Retention.DisposeAsync().ConfigureAwait(false);
        await Exports.DisposeAsync().ConfigureAwait(false);
        if (Indexer is not null)
            await Indexer.DisposeAsync().ConfigureAwait(false);
        Index?.Dispose();
        DataChannel.Dispose();
        _stopping.Dispose();
    }
}
