using System.Net;
using System.Security.Cryptography;
using MassTransit;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Teleport.Blocks;
using Teleport.Contracts;
using Teleport.Storage.Volumes;
using Teleport.Storage.Worker;
using Teleport.Transfer;

namespace Teleport.Storage.Migrations;

/// <summary>
/// The migrations this storage worker takes part in, by MigrationId, as source or destination. Commands are
/// idempotent: a repeated PrepareDestination re-publishes the same DestinationPrepared, a repeated StartTransfer or
/// FinalSync for a running migration changes nothing, AbortTransfer is acknowledged even for an unknown migration.
/// Sessions run in the background; the consumers only start or signal them.
/// </summary>
public sealed class StorageMigrations : IHostedService, IAsyncDisposable
{
    private const int SecretBytes = 32;

    private readonly StorageWorkerOptions _options;
    private readonly VolumeStore _store;
    private readonly VolumeTrackers _volumes;
    private readonly NbdExportService _exports;
    private readonly IBus _bus;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger<StorageMigrations> _log;
    private readonly BlockIndex? _index;
    private readonly Lock _gate = new();
    private readonly Dictionary<Guid, SourceMigration> _sources = new();
    private readonly Dictionary<Guid, DestinationMigration> _destinations = new();

    public StorageMigrations(StorageWorkerOptions options, VolumeStore store, VolumeTrackers volumes, NbdExportService exports, IBus bus,
        ILoggerFactory loggers)
    {
        _options = options;
        _store = store;
        _volumes = volumes;
        _exports = exports;
        _bus = bus;
        _loggers = loggers;
        _log = loggers.CreateLogger<StorageMigrations>();
        _index = options.IndexDirectory is null ? null : BlockIndex.Open(options.IndexDirectory, options.BlockSize);
    }

    /// <summary>Migrations with a session (running or finished and not yet aborted).</summary>
    public int Count
    {
        get
        {
            lock (_gate)
                return _sources.Count + _destinations.Count;
        }
    }

    public static IDisposable? Scope(ILogger log, Guid migrationId) =>
        log.BeginScope(new Dictionary<string, object> { ["MigrationId"] = migrationId });

    public Task PrepareDestinationAsync(PrepareDestination command)
    {
        using var scope = Scope(_log, command.MigrationId);
        DestinationPrepared prepared;
        try
        {
            lock (_gate)
                prepared = (_destinations.GetValueOrDefault(command.MigrationId) ?? CreateDestination(command)).Prepared;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException or UnauthorizedAccessException or System.Net.Sockets.SocketException)
        {
            _log.LogError("Cannot prepare volume {Volume} for migration {MigrationId}: {Reason}", command.VolumeId, command.MigrationId, e.Message);
            return Failed(command.MigrationId, StoragePhases.Prepare, e.Message);
        }

        return _bus.Publish(prepared);
    }

    private DestinationMigration CreateDestination(PrepareDestination command)
    {
        if (!string.Equals(command.DestinationStorageId, _options.StorageId, StringComparison.Ordinal))
            throw new ArgumentException($"PrepareDestination for storage '{command.DestinationStorageId}' reached storage '{_options.StorageId}'");
        VolumeStore.Validate(command.VolumeId);
        if (_volumes.Contains(command.VolumeId))
            throw new InvalidOperationException($"volume '{command.VolumeId}' already exists on storage '{_options.StorageId}' and is in use");
        if (_destinations.Values.Any(d => d.VolumeId == command.VolumeId && !d.Completed))
            throw new InvalidOperationException($"volume '{command.VolumeId}' is already being received by another migration");

        // The marker keeps a half-built volume from being served, also across a restart of this worker.
        _store.MarkIncoming(command.VolumeId);
        var secret = RandomNumberGenerator.GetBytes(SecretBytes);
        var events = new OrderedPublisher(_bus, _log);
        var observer = new DestinationEventObserver(command.MigrationId, events);
        var session = new DestinationSession(new DestinationOptions
        {
            MigrationId = command.MigrationId,
            Secret = secret,
            VolumePath = _store.PathOf(command.VolumeId),
            StatePath = _store.SessionStatePathOf(command.VolumeId),
            Listen = _options.DataEndPoint,
            Index = command.Options.UseIndex ? _index : null,
            Observer = observer,
        }, _loggers.CreateLogger<DestinationSession>());
        IPEndPoint bound;
        try
        {
            bound = session.Start();
        }
        catch
        {
            _ = session.DisposeAsync().AsTask();
            throw;
        }

        var prepared = new DestinationPrepared(command.MigrationId, _options.StorageId, command.VolumeId, _options.Advertise(bound),
            Convert.ToBase64String(secret), null, _options.Advertise(_options.NbdEndPoint), command.VolumeId, DateTimeOffset.UtcNow, command.Attempt);
        var migration = new DestinationMigration(command.MigrationId, command.VolumeId, session, observer, events, prepared);
        _destinations.Add(command.MigrationId, migration);
        migration.Run = Task.Run(() => RunDestinationAsync(migration));
        _log.LogInformation("Receiving volume {Volume} for migration {MigrationId} on {DataEndpoint}", command.VolumeId, command.MigrationId, prepared.DataEndpoint);
        return migration;
    }

    private async Task RunDestinationAsync(DestinationMigration m)
    {
        using var scope = Scope(_log, m.MigrationId);
        try
        {
            var result = await m.Session.RunAsync(m.Stop.Token).ConfigureAwait(false);
            _index?.Save();
            long volumeBytes = new FileInfo(_store.PathOf(m.VolumeId)).Length;
            if (result.Verified)
            {
                _store.MarkComplete(m.VolumeId);
                _exports.Export(m.VolumeId);
            }

            m.Completed = true;
            _log.LogInformation("Volume {Volume} received for migration {MigrationId}: verified {Verified}, {BytesOnWire} bytes on the wire, {Rounds} rounds",
                m.VolumeId, m.MigrationId, result.Verified, result.BytesOnWire, result.Rounds);
            m.Events.Post(new MigrationCompleted(m.MigrationId, _options.StorageId, m.VolumeId, result.Verified, volumeBytes, result.BytesOnWire,
                result.BlocksFromIndex, result.BlocksSent, result.Rounds, DateTimeOffset.UtcNow));
        }
        catch (Exception) when (m.Stop.IsCancellationRequested)
        {
            _log.LogInformation("Receiving volume {Volume} for migration {MigrationId} stopped", m.VolumeId, m.MigrationId);
        }
        catch (Exception e)
        {
            _log.LogError(e, "Receiving volume {Volume} for migration {MigrationId} failed", m.VolumeId, m.MigrationId);
            lock (_gate)
                _destinations.Remove(m.MigrationId);
            m.Events.Post(Failure(m.MigrationId, StoragePhases.Of(m.Observer.Phase), e.Message));
        }
        finally
        {
            await m.Events.DrainAsync().ConfigureAwait(false);
            await m.Session.DisposeAsync().ConfigureAwait(false);
        }
    }

    public Task StartTransferAsync(StartTransfer command)
    {
        using var scope = Scope(_log, command.MigrationId);
        try
        {
            lock (_gate)
            {
                if (_sources.ContainsKey(command.MigrationId))
                {
                    _log.LogInformation("StartTransfer for migration {MigrationId} ignored: it is already running or done", command.MigrationId);
                    return Task.CompletedTask;
                }

                CreateSource(command);
            }
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException or IOException)
        {
            _log.LogError("Cannot start migration {MigrationId} of volume {Volume}: {Reason}", command.MigrationId, command.VolumeId, e.Message);
            return Failed(command.MigrationId, StoragePhases.Index, e.Message);
        }

        return Task.CompletedTask;
    }

    private void CreateSource(StartTransfer command)
    {
        if (!string.Equals(command.SourceStorageId, _options.StorageId, StringComparison.Ordinal))
            throw new ArgumentException($"StartTransfer for storage '{command.SourceStorageId}' reached storage '{_options.StorageId}'");
        VolumeStore.Validate(command.VolumeId);
        if (!_volumes.TryGet(command.VolumeId, out var volume))
            throw new InvalidOperationException($"volume '{command.VolumeId}' is not served by storage '{_options.StorageId}'");
        if (_sources.Values.Any(s => s.VolumeId == command.VolumeId && !s.Completed))
            throw new InvalidOperationException($"volume '{command.VolumeId}' is already being migrated by another migration");
        if (command.CertificateSha256 is not null)
            throw new ArgumentException("the destination asks for TLS, which this storage worker does not configure for its data channel");
        int blockSize = command.Options.BlockSize ?? volume.Tracker.BlockSize;
        if (blockSize != volume.Tracker.BlockSize)
            throw new ArgumentException($"block size {blockSize} asked for, but volume '{command.VolumeId}' is tracked in {volume.Tracker.BlockSize}-byte blocks");
        var secret = Convert.FromBase64String(command.Secret);
        var destination = ParseEndPoint(command.DataEndpoint);

        var events = new OrderedPublisher(_bus, _log);
        long threshold = command.Options.DirtyThresholdBlocks ?? _options.DirtyThresholdBlocks;
        int maxRounds = command.Options.MaxCopyRounds ?? _options.MaxCopyRounds;
        var observer = new SourceEventObserver(command.MigrationId, volume.Export.Size, threshold, maxRounds, events);
        var session = new SourceSession(new SourceOptions
        {
            MigrationId = command.MigrationId,
            Secret = secret,
            VolumePath = volume.Path,
            Destination = destination,
            BlockSize = blockSize,
            CompressionLevel = command.Options.CompressionLevel ?? _options.CompressionLevel,
            Bandwidth = command.Options.BandwidthBytesPerSecond is > 0 and var rate ? ByteRate.FromBytesPerSecond(rate) : ByteRate.Unlimited,
            DirtyThresholdBlocks = threshold,
            MaxRounds = maxRounds,
            Observer = observer,
        }, volume.Tracker, _loggers.CreateLogger<SourceSession>());
        var migration = new SourceMigration(command.MigrationId, command.VolumeId, session, observer, events);
        _sources.Add(command.MigrationId, migration);
        migration.Run = Task.Run(() => RunSourceAsync(migration));
        _log.LogInformation("Sending volume {Volume} for migration {MigrationId} to {DataEndpoint}", command.VolumeId, command.MigrationId, command.DataEndpoint);
    }

    private async Task RunSourceAsync(SourceMigration m)
    {
        using var scope = Scope(_log, m.MigrationId);
        try
        {
            var result = await m.Session.RunAsync(m.Stop.Token).ConfigureAwait(false);
            m.Completed = true;
            _log.LogInformation(
                "Volume {Volume} sent for migration {MigrationId}: {BytesOnWire} bytes on the wire, {BlocksSent} blocks sent, {FromIndex} from the destination's index, {Rounds} rounds",
                m.VolumeId, m.MigrationId, result.BytesOnWire, result.BlocksSent, result.BlocksFromIndex, result.Rounds);
        }
        catch (Exception) when (m.Stop.IsCancellationRequested)
        {
            _log.LogInformation("Sending volume {Volume} for migration {MigrationId} stopped", m.VolumeId, m.MigrationId);
        }
        catch (Exception e)
        {
            _log.LogError(e, "Sending volume {Volume} for migration {MigrationId} failed", m.VolumeId, m.MigrationId);
            lock (_gate)
                _sources.Remove(m.MigrationId);
            m.Events.Post(Failure(m.MigrationId, StoragePhases.Of(m.Observer.Phase), e.Message));
        }
        finally
        {
            await m.Events.DrainAsync().ConfigureAwait(false);
            await m.Session.DisposeAsync().ConfigureAwait(false);
        }
    }

    public Task FinalSyncAsync(FinalSync command)
    {
        using var scope = Scope(_log, command.MigrationId);
        SourceMigration? migration;
        lock (_gate)
            migration = _sources.GetValueOrDefault(command.MigrationId);
        if (migration is null)
        {
            _log.LogError("FinalSync for migration {MigrationId}, which is not running on storage {StorageId}", command.MigrationId, _options.StorageId);
            return Failed(command.MigrationId, StoragePhases.CutOver, $"no transfer of migration {command.MigrationId} runs on storage '{_options.StorageId}'");
        }

        _log.LogInformation("Final round of migration {MigrationId} begins", command.MigrationId);
        migration.Session.BeginCutover();
        return Task.CompletedTask;
    }

    public async Task AbortAsync(AbortTransfer command)
    {
        using var scope = Scope(_log, command.MigrationId);
        SourceMigration? source;
        DestinationMigration? destination;
        lock (_gate)
        {
            _sources.Remove(command.MigrationId, out source);
            _destinations.Remove(command.MigrationId, out destination);
        }

        _log.LogInformation("Aborting migration {MigrationId} ({Reason})", command.MigrationId, command.Reason);
        if (source is not null)
            await StopSessionAsync(source.Stop, source.Run).ConfigureAwait(false);
        if (destination is not null)
        {
            await StopSessionAsync(destination.Stop, destination.Run).ConfigureAwait(false);
            // The source stays authoritative: a volume this migration completed must not be served any more.
            if (destination.Completed && _exports.Unexport(destination.VolumeId))
                _store.MarkIncoming(destination.VolumeId);
        }

        await _bus.Publish(new TransferAborted(command.MigrationId, _options.StorageId, DateTimeOffset.UtcNow)).ConfigureAwait(false);
    }

    private async Task StopSessionAsync(CancellationTokenSource stop, Task run)
    {
        await stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await run.WaitAsync(_options.StopTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            _log.LogWarning("A migration session did not stop within {Timeout}", _options.StopTimeout);
        }
    }

    private TransferFailed Failure(Guid migrationId, string phase, string reason) =>
        new(migrationId, _options.StorageId, phase, reason, DateTimeOffset.UtcNow);

    private Task Failed(Guid migrationId, string phase, string reason) => _bus.Publish(Failure(migrationId, phase, reason));

    /// <summary>"ADDR:PORT", "[v6]:PORT" or "host:PORT".</summary>
    internal static EndPoint ParseEndPoint(string text)
    {
        if (IPEndPoint.TryParse(text, out var ip) && ip.Port != 0)
            return ip;
        int colon = text.LastIndexOf(':');
        if (colon > 0 && int.TryParse(text.AsSpan(colon + 1), out int port) && port is > 0 and <= 65535 && Uri.CheckHostName(text[..colon]) != UriHostNameType.Unknown)
            return new DnsEndPoint(text[..colon], port);
        throw new ArgumentException($"data endpoint '{text}' is not HOST:PORT");
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Stops every session (the worker is shutting down); the volumes stay as they are and migrations can be retried.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        List<(CancellationTokenSource, Task)> running;
        lock (_gate)
        {
            running = [.. _sources.Values.Select(s => (s.Stop, s.Run)), .. _destinations.Values.Select(d => (d.Stop, d.Run))];
            _sources.Clear();
            _destinations.Clear();
        }

        foreach (var (stop, run) in running)
            await StopSessionAsync(stop, run).ConfigureAwait(false);
        _index?.Save();
    }

    public ValueTask DisposeAsync()
    {
        _index?.Dispose();
        return ValueTask.CompletedTask;
    }
}
