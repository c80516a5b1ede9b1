using System.Net;
using System.Security.Cryptography;
using MassTransit;
using Microsoft.Extensions.Logging;
using Teleport.Blocks;
using Teleport.Contracts;
using Teleport.Storage.Security;
using Teleport.Storage.Volumes;
using Teleport.Storage.Worker;
using Teleport.Transfer;

namespace Teleport.Storage.Migrations;

/// <summary>
/// The migrations this storage worker takes part in, by MigrationId, as source or destination. Commands are
/// idempotent per attempt, so the saga may re-send a command whose answer did not come: a repeated PrepareDestination
/// re-publishes the same DestinationPrepared; a repeated StartTransfer never starts a second transfer but re-publishes
/// the progress already made (or the failure); a repeated FinalSync signals the running final sync again, or
/// re-publishes MigrationCompleted once it is done (or the failure); AbortTransfer is acknowledged even for an
/// unknown migration; a command of a later attempt replaces what an earlier attempt left running. Every event
/// carries the attempt of the command it answers. Sessions run in the background; the consumers only start or
/// signal them. Each side is written to the <see cref="MigrationJournal"/>, so a restarted worker reports the
/// migrations it can no longer finish as failed (<see cref="ReportInterruptedAsync"/>) instead of leaving them hanging.
/// </summary>
public sealed class StorageMigrations
{
    private const int SecretBytes = 32;
    private static readonly TimeSpan JournalRetention = TimeSpan.FromDays(7);

    private readonly StorageWorkerOptions _options;
    private readonly VolumeStore _store;
    private readonly VolumeTrackers _volumes;
    private readonly NbdExportService _exports;
    private readonly Func<IPublishEndpoint> _bus;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger<StorageMigrations> _log;
    private readonly BlockIndex? _index;
    private readonly DataChannelCertificate? _certificate;
    private readonly MigrationJournal _journal;
    private readonly Lock _gate = new();
    private readonly Dictionary<Guid, SourceMigration> _sources = new();
    private readonly Dictionary<Guid, DestinationMigration> _destinations = new();
    // How the last attempt of an outgoing migration failed, kept until an abort or a later attempt: a duplicate
    // StartTransfer or FinalSync of that attempt is answered with the same failure instead of starting over.
    private readonly Dictionary<Guid, TransferFailed> _sourceFailures = new();
    // Sides a previous run of this worker left unfinished (reported failed) or completed (a destination volume a later abort must unexport).
    private readonly Dictionary<(Guid, MigrationRole), JournalEntry> _interrupted = new();

    internal StorageMigrations(StorageWorkerOptions options, VolumeStore store, VolumeTrackers volumes, NbdExportService exports,
        Func<IPublishEndpoint> bus, ILoggerFactory loggers, BlockIndex? index, DataChannelCertificate? certificate, MigrationJournal journal)
    {
        _options = options;
        _store = store;
        _volumes = volumes;
        _exports = exports;
        _bus = bus;
        _loggers = loggers;
        _log = loggers.CreateLogger<StorageMigrations>();
        _index = index;
        _certificate = certificate;
        _journal = journal;
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

    /// <summary>Migrations a previous run of this worker left unfinished, as read from the journal at start.</summary>
    public IReadOnlyList<JournalEntry> Interrupted
    {
        get
        {
            lock (_gate)
                return _interrupted.Values.Where(e => !e.Completed).ToArray();
        }
    }

    public static IDisposable? Scope(ILogger log, Guid migrationId) =>
        log.BeginScope(new Dictionary<string, object> { ["MigrationId"] = migrationId });

    /// <summary>The migration (running, not finished) that uses <paramref name="volumeId"/> on this worker, if any.</summary>
    public Guid? UsingVolume(string volumeId)
    {
        lock (_gate)
        {
            return _sources.Values.FirstOrDefault(s => s.VolumeId == volumeId && !s.Completed)?.MigrationId
                ?? _destinations.Values.FirstOrDefault(d => d.VolumeId == volumeId && !d.Completed)?.MigrationId
                ?? _interrupted.Values.FirstOrDefault(e => e.VolumeId == volumeId && e.Role == MigrationRole.Destination && !e.Completed)?.MigrationId;
        }
    }

    /// <summary>Reads the journal: every side a previous run did not finish becomes an interrupted migration.</summary>
    internal void LoadJournal()
    {
        foreach (var entry in _journal.Load())
        {
            if (entry.StartedAt < DateTimeOffset.UtcNow - JournalRetention)
            {
                _journal.Remove(entry.MigrationId, entry.Role);
                continue;
            }

            lock (_gate)
                _interrupted[(entry.MigrationId, entry.Role)] = entry;
            if (!entry.Completed)
                _log.LogWarning("Migration {MigrationId} ({Role} of volume {Volume}, attempt {Attempt}) was interrupted by a restart of this worker",
                    entry.MigrationId, entry.Role, entry.VolumeId, entry.Attempt);
        }
    }

    /// <summary>Publishes TransferFailed for every side a previous run left unfinished (once the bus runs).</summary>
    public async Task ReportInterruptedAsync(CancellationToken cancellationToken)
    {
        foreach (var entry in Interrupted)
        {
            using var scope = Scope(_log, entry.MigrationId);
            var failure = new TransferFailed(entry.MigrationId, _options.StorageId, entry.Phase, RestartReason(entry), DateTimeOffset.UtcNow, entry.Attempt);
            for (int attempt = 1; ; attempt++)
            {
                try
                {
                    await _bus().Publish(failure, cancellationToken).ConfigureAwait(false);
                    _log.LogError("Migration {MigrationId} reported failed: {Reason}", entry.MigrationId, failure.Reason);
                    break;
                }
                catch (Exception e) when (attempt < 30 && !cancellationToken.IsCancellationRequested && e is not OperationCanceledException)
                {
                    // The bus may still be connecting.
                    await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false);
                }
            }
        }
    }

    private string RestartReason(JournalEntry entry) => entry.Role == MigrationRole.Destination
        ? $"storage worker '{_options.StorageId}' restarted while receiving volume '{entry.VolumeId}' for this migration (attempt {entry.Attempt}, phase {entry.Phase}): " +
          "its data channel and session are gone, so this attempt cannot finish; the partial volume stays unexported (incoming) and a retry resumes from it"
        : $"storage worker '{_options.StorageId}' restarted while sending volume '{entry.VolumeId}' for this migration (attempt {entry.Attempt}, phase {entry.Phase}): " +
          "the writes tracked during the migration were lost, so this attempt cannot finish; retry the migration";

    // Caller holds the gate. A command for a side a restart interrupted: refused for its attempt, a later attempt starts afresh.
    private JournalEntry? InterruptedSide(Guid migrationId, MigrationRole role, int attempt)
    {
        if (!_interrupted.TryGetValue((migrationId, role), out var entry) || entry.Completed)
            return null;
        if (attempt <= entry.Attempt)
            return entry;
        _interrupted.Remove((migrationId, role));
        _journal.Remove(migrationId, role);
        return null;
    }

    public async Task PrepareDestinationAsync(PrepareDestination command)
    {
        using var scope = Scope(_log, command.MigrationId);
        DestinationMigration? replaced = null;
        DestinationPrepared? prepared = null;
        JournalEntry? interrupted;
        lock (_gate)
        {
            interrupted = InterruptedSide(command.MigrationId, MigrationRole.Destination, command.Attempt);
            if (interrupted is null && _destinations.TryGetValue(command.MigrationId, out var existing))
            {
                if (command.Attempt <= existing.Attempt)
                    prepared = existing.Prepared with { Attempt = command.Attempt, PreparedAt = DateTimeOffset.UtcNow };
                else
                    _destinations.Remove(command.MigrationId, out replaced);
            }
        }

        if (interrupted is not null)
        {
            _log.LogError("PrepareDestination for migration {MigrationId} refused: this worker restarted during it", command.MigrationId);
            await Failed(command.MigrationId, interrupted.Phase, RestartReason(interrupted), command.Attempt).ConfigureAwait(false);
            return;
        }

        if (prepared is not null)
        {
            await PublishAsync(prepared).ConfigureAwait(false);
            return;
        }

        if (replaced is not null)
        {
            _log.LogInformation("Attempt {Attempt} of migration {MigrationId} replaces attempt {Old}", command.Attempt, command.MigrationId, replaced.Attempt);
            await RetireDestinationAsync(replaced).ConfigureAwait(false);
        }

        try
        {
            lock (_gate)
                prepared = CreateDestination(command).Prepared;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException or UnauthorizedAccessException or System.Net.Sockets.SocketException)
        {
            _log.LogError("Cannot prepare volume {Volume} for migration {MigrationId}: {Reason}", command.VolumeId, command.MigrationId, e.Message);
            await Failed(command.MigrationId, StoragePhases.Prepare, e.Message, command.Attempt).ConfigureAwait(false);
            return;
        }

        await PublishAsync(prepared).ConfigureAwait(false);
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
        if (_interrupted.Values.FirstOrDefault(e => e.VolumeId == command.VolumeId && e.Role == MigrationRole.Destination && !e.Completed && e.MigrationId != command.MigrationId) is { } other)
            throw new InvalidOperationException($"volume '{command.VolumeId}' belongs to migration {other.MigrationId}, interrupted by a restart of this worker and not aborted yet");
        var nbd = _exports.EndPoint as IPEndPoint
            ?? throw new InvalidOperationException($"storage '{_options.StorageId}' does not serve NBD yet (not started)");

        // The marker keeps a half-built volume from being served, also across a restart of this worker.
        _store.MarkIncoming(command.VolumeId);
        var journal = new JournalEntry(command.MigrationId, MigrationRole.Destination, command.VolumeId, command.Attempt, StoragePhases.Prepare, false,
            DateTimeOffset.UtcNow);
        _journal.Write(journal);
        var secret = RandomNumberGenerator.GetBytes(SecretBytes);
        var events = new OrderedPublisher(_bus, _log);
        var observer = new DestinationEventObserver(command.MigrationId, command.Attempt, events,
            phase => Journal(journal with { Phase = StoragePhases.Of(phase) }));
        var session = new DestinationSession(new DestinationOptions
        {
            MigrationId = command.MigrationId,
            Secret = secret,
            VolumePath = _store.PathOf(command.VolumeId),
            StatePath = _store.SessionStatePathOf(command.VolumeId),
            Listen = _options.DataEndPoint,
            Index = command.Options.UseIndex ? _index : null,
            ReadAheadBytes = _options.ReceiveReadAheadBytes,
            Tls = _certificate is null ? null : new TransferTls { Certificate = _certificate.Certificate },
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
            _journal.Remove(command.MigrationId, MigrationRole.Destination);
            throw;
        }

        var prepared = new DestinationPrepared(command.MigrationId, _options.StorageId, command.VolumeId, _options.Advertise(bound),
            Convert.ToBase64String(secret), _certificate?.Sha256Hex, _options.Advertise(nbd), command.VolumeId, DateTimeOffset.UtcNow, command.Attempt);
        var migration = new DestinationMigration(command.MigrationId, command.Attempt, command.VolumeId, session, observer, events, prepared);
        _destinations.Add(command.MigrationId, migration);
        migration.Run = Task.Run(() => RunDestinationAsync(migration, journal));
        _log.LogInformation("Receiving volume {Volume} for migration {MigrationId} (attempt {Attempt}) on {DataEndpoint}, TLS {Tls}",
            command.VolumeId, command.MigrationId, command.Attempt, prepared.DataEndpoint, _certificate is not null);
        return migration;
    }

    private void Journal(JournalEntry entry)
    {
        try
        {
            _journal.Write(entry);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log.LogWarning("Cannot write the migration journal: {Reason}", e.Message);
        }
    }

    private async Task RunDestinationAsync(DestinationMigration m, JournalEntry journal)
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
            // Kept until an abort or a later attempt: after a restart, a rollback must still be able to unexport it.
            Journal(journal with { Phase = StoragePhases.CutOver, Completed = true });
            _log.LogInformation("Volume {Volume} received for migration {MigrationId}: verified {Verified}, {BytesOnWire} bytes on the wire, {Rounds} rounds",
                m.VolumeId, m.MigrationId, result.Verified, result.BytesOnWire, result.Rounds);
            m.Events.Post(new MigrationCompleted(m.MigrationId, _options.StorageId, m.VolumeId, result.Verified, volumeBytes, result.BytesOnWire,
                result.BlocksFromIndex, result.BlocksSent, result.Rounds, DateTimeOffset.UtcNow, m.Attempt));
        }
        catch (Exception) when (m.Stop.IsCancellationRequested)
        {
            _log.LogInformation("Receiving volume {Volume} for migration {MigrationId} stopped", m.VolumeId, m.MigrationId);
        }
        catch (Exception e)
        {
            _log.LogError(e, "Receiving volume {Volume} for migration {MigrationId} failed", m.VolumeId, m.MigrationId);
            lock (_gate)
            {
                if (_destinations.GetValueOrDefault(m.MigrationId) == m)
                    _destinations.Remove(m.MigrationId);
            }

            _journal.Remove(m.MigrationId, MigrationRole.Destination);
            m.Events.Post(Failure(m.MigrationId, StoragePhases.Of(m.Observer.Phase), e.Message, m.Attempt));
        }
        finally
        {
            await m.Events.DrainAsync().ConfigureAwait(false);
            await m.Session.DisposeAsync().ConfigureAwait(false);
        }
    }

    public async Task StartTransferAsync(StartTransfer command)
    {
        using var scope = Scope(_log, command.MigrationId);
        SourceMigration? replaced = null;
        JournalEntry? interrupted;
        IReadOnlyList<object>? repeat = null;
        lock (_gate)
        {
            interrupted = InterruptedSide(command.MigrationId, MigrationRole.Source, command.Attempt);
            if (interrupted is null && _sources.TryGetValue(command.MigrationId, out var existing))
            {
                if (command.Attempt < existing.Attempt)
                {
                    _log.LogInformation("StartTransfer of attempt {Attempt} ignored: attempt {Running} runs", command.Attempt, existing.Attempt);
                    return;
                }

                if (command.Attempt == existing.Attempt)
                    repeat = existing.Observer.Progress();
                else
                    _sources.Remove(command.MigrationId, out replaced);
            }
            else if (interrupted is null && _sourceFailures.TryGetValue(command.MigrationId, out var failure))
            {
                if (command.Attempt < failure.Attempt)
                {
                    _log.LogInformation("StartTransfer of attempt {Attempt} ignored: attempt {Failed} failed since", command.Attempt, failure.Attempt);
                    return;
                }

                if (command.Attempt == failure.Attempt)
                    repeat = [failure];
                else
                    _sourceFailures.Remove(command.MigrationId);
            }
        }

        if (interrupted is not null)
        {
            _log.LogError("StartTransfer for migration {MigrationId} refused: this worker restarted during it", command.MigrationId);
            await Failed(command.MigrationId, interrupted.Phase, RestartReason(interrupted), command.Attempt).ConfigureAwait(false);
            return;
        }

        if (repeat is not null)
        {
            // The saga re-sent it (a command or an answer may have been lost): never a second transfer, the same answers.
            _log.LogInformation("StartTransfer for migration {MigrationId} (attempt {Attempt}) repeated: it already ran; re-publishing {Events}",
                command.MigrationId, command.Attempt, repeat.Count == 0 ? "nothing (no progress yet)" : string.Join(", ", repeat.Select(e => e.GetType().Name)));
            foreach (var message in repeat)
                await PublishAsync(message).ConfigureAwait(false);
            return;
        }

        if (replaced is not null)
        {
            _log.LogInformation("Attempt {Attempt} of migration {MigrationId} replaces attempt {Old}", command.Attempt, command.MigrationId, replaced.Attempt);
            await StopSessionAsync(replaced.Stop, replaced.Run).ConfigureAwait(false);
        }

        try
        {
            lock (_gate)
                CreateSource(command);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException or IOException)
        {
            _log.LogError("Cannot start migration {MigrationId} of volume {Volume}: {Reason}", command.MigrationId, command.VolumeId, e.Message);
            var failure = Failure(command.MigrationId, StoragePhases.Index, e.Message, command.Attempt);
            lock (_gate)
                _sourceFailures[command.MigrationId] = failure;
            await PublishAsync(failure).ConfigureAwait(false);
        }
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
        var tls = command.CertificateSha256 is { } pin ? new TransferTls { PinnedPeerSha256 = ParsePin(pin) } : null;
        int blockSize = command.Options.BlockSize ?? volume.Tracker.BlockSize;
        if (blockSize != volume.Tracker.BlockSize)
            throw new ArgumentException($"block size {blockSize} asked for, but volume '{command.VolumeId}' is tracked in {volume.Tracker.BlockSize}-byte blocks");
        var secret = Convert.FromBase64String(command.Secret);
        var destination = ParseEndPoint(command.DataEndpoint);

        var journal = new JournalEntry(command.MigrationId, MigrationRole.Source, command.VolumeId, command.Attempt, StoragePhases.Index, false,
            DateTimeOffset.UtcNow);
        _journal.Write(journal);
        var events = new OrderedPublisher(_bus, _log);
        long threshold = command.Options.DirtyThresholdBlocks ?? _options.DirtyThresholdBlocks;
        int maxRounds = command.Options.MaxCopyRounds ?? _options.MaxCopyRounds;
        var observer = new SourceEventObserver(command.MigrationId, command.Attempt, volume.Export.Size, threshold, maxRounds, events,
            phase => Journal(journal with { Phase = StoragePhases.Of(phase) }));
        var session = new SourceSession(new SourceOptions
        {
            MigrationId = command.MigrationId,
            Secret = secret,
            VolumePath = volume.Path,
            Destination = destination,
            BlockSize = blockSize,
            CompressionLevel = command.Options.CompressionLevel ?? _options.CompressionLevel,
            MaxCompressionWindowLog = _options.MaxCompressionWindowLog,
            Bandwidth = command.Options.BandwidthBytesPerSecond is > 0 and var rate ? ByteRate.FromBytesPerSecond(rate) : ByteRate.Unlimited,
            DirtyThresholdBlocks = threshold,
            MaxRounds = maxRounds,
            Tls = tls,
            Observer = observer,
        }, volume.Tracker, _loggers.CreateLogger<SourceSession>());
        var migration = new SourceMigration(command.MigrationId, command.Attempt, command.VolumeId, command.DestinationStorageId, volume.Export.Size,
            session, observer, events);
        _sources.Add(command.MigrationId, migration);
        migration.Run = Task.Run(() => RunSourceAsync(migration));
        _log.LogInformation("Sending volume {Volume} for migration {MigrationId} (attempt {Attempt}) to {DataEndpoint}, TLS {Tls}",
            command.VolumeId, command.MigrationId, command.Attempt, command.DataEndpoint, tls is not null);
    }

    /// <summary>The destination's certificate pin: 64 hex digits (colons allowed).</summary>
    internal static byte[] ParsePin(string text)
    {
        byte[] pin;
        try
        {
            pin = Convert.FromHexString(text.Replace(":", "", StringComparison.Ordinal));
        }
        catch (FormatException)
        {
            pin = [];
        }

        return pin.Length == 32 ? pin : throw new ArgumentException($"certificate pin '{text}' is not a SHA-256 in hex (64 digits)");
    }

    private async Task RunSourceAsync(SourceMigration m)
    {
        using var scope = Scope(_log, m.MigrationId);
        try
        {
            var result = await m.Session.RunAsync(m.Stop.Token).ConfigureAwait(false);
            // The destination publishes MigrationCompleted; the source keeps the same figures of this transfer for a
            // duplicate FinalSync, which is all the saga re-sends when that event was lost.
            m.Completion = new MigrationCompleted(m.MigrationId, m.DestinationStorageId, m.VolumeId, result.Verified, m.VolumeBytes, result.BytesOnWire,
                result.BlocksFromIndex, result.BlocksSent, result.Rounds, DateTimeOffset.UtcNow, m.Attempt);
            _journal.Remove(m.MigrationId, MigrationRole.Source);
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
            var failure = Failure(m.MigrationId, StoragePhases.Of(m.Observer.Phase), e.Message, m.Attempt);
            lock (_gate)
            {
                if (_sources.GetValueOrDefault(m.MigrationId) == m)
                {
                    _sources.Remove(m.MigrationId);
                    _sourceFailures[m.MigrationId] = failure;
                }
            }

            _journal.Remove(m.MigrationId, MigrationRole.Source);
            m.Events.Post(failure);
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
        JournalEntry? interrupted;
        TransferFailed? failure;
        lock (_gate)
        {
            migration = _sources.GetValueOrDefault(command.MigrationId);
            interrupted = InterruptedSide(command.MigrationId, MigrationRole.Source, command.Attempt);
            failure = _sourceFailures.GetValueOrDefault(command.MigrationId);
        }

        if (interrupted is not null)
        {
            _log.LogError("FinalSync for migration {MigrationId} refused: this worker restarted during it", command.MigrationId);
            return Failed(command.MigrationId, StoragePhases.CutOver, RestartReason(interrupted), command.Attempt);
        }

        if (migration is null && failure is not null && failure.Attempt == command.Attempt)
        {
            _log.LogInformation("FinalSync for migration {MigrationId} (attempt {Attempt}): its transfer failed; re-publishing the failure",
                command.MigrationId, command.Attempt);
            return PublishAsync(failure);
        }

        if (migration is null || command.Attempt > migration.Attempt)
        {
            _log.LogError("FinalSync for migration {MigrationId}, which is not running on storage {StorageId}", command.MigrationId, _options.StorageId);
            return Failed(command.MigrationId, StoragePhases.CutOver,
                $"no transfer of migration {command.MigrationId} (attempt {command.Attempt}) runs on storage '{_options.StorageId}': unknown migration " +
                "(never started here, already failed or aborted)", command.Attempt);
        }

        if (command.Attempt < migration.Attempt)
        {
            _log.LogInformation("FinalSync of attempt {Attempt} ignored: attempt {Running} runs", command.Attempt, migration.Attempt);
            return Task.CompletedTask;
        }

        if (migration.Completion is { } completion)
        {
            // Done already: the destination's MigrationCompleted may have been lost, so the saga asks again.
            _log.LogInformation("FinalSync for migration {MigrationId} (attempt {Attempt}) repeated after the final sync completed; re-publishing MigrationCompleted",
                command.MigrationId, command.Attempt);
            return PublishAsync(completion);
        }

        _log.LogInformation("Final round of migration {MigrationId} begins", command.MigrationId);
        migration.Session.BeginCutover();
        return Task.CompletedTask;
    }

    public async Task AbortAsync(AbortTransfer command)
    {
        using var scope = Scope(_log, command.MigrationId);
        SourceMigration? source = null;
        DestinationMigration? destination = null;
        JournalEntry? completedBefore = null;
        lock (_gate)
        {
            // A late abort of an earlier attempt must not stop a later one.
            if (_sources.TryGetValue(command.MigrationId, out var s) && s.Attempt <= command.Attempt)
                _sources.Remove(command.MigrationId, out source);
            if (_sourceFailures.TryGetValue(command.MigrationId, out var failed) && failed.Attempt <= command.Attempt)
                _sourceFailures.Remove(command.MigrationId);
            if (_destinations.TryGetValue(command.MigrationId, out var d) && d.Attempt <= command.Attempt)
                _destinations.Remove(command.MigrationId, out destination);
            foreach (var role in new[] { MigrationRole.Source, MigrationRole.Destination })
            {
                if (_interrupted.TryGetValue((command.MigrationId, role), out var entry) && entry.Attempt <= command.Attempt)
                {
                    _interrupted.Remove((command.MigrationId, role));
                    _journal.Remove(command.MigrationId, role);
                    if (entry.Completed)
                        completedBefore = entry;
                }
            }
        }

        _log.LogInformation("Aborting migration {MigrationId} ({Reason})", command.MigrationId, command.Reason);
        if (source is not null)
        {
            await StopSessionAsync(source.Stop, source.Run).ConfigureAwait(false);
            _journal.Remove(command.MigrationId, MigrationRole.Source);
        }

        if (destination is not null)
            await RetireDestinationAsync(destination).ConfigureAwait(false);
        if (completedBefore is not null && _exports.Unexport(completedBefore.VolumeId))
            _store.MarkIncoming(completedBefore.VolumeId);

        await PublishAsync(new TransferAborted(command.MigrationId, _options.StorageId, DateTimeOffset.UtcNow, command.Attempt)).ConfigureAwait(false);
    }

    // Stops a destination session; the source stays authoritative, so a volume it completed is not served any more.
    private async Task RetireDestinationAsync(DestinationMigration destination)
    {
        await StopSessionAsync(destination.Stop, destination.Run).ConfigureAwait(false);
        if (destination.Completed && _exports.Unexport(destination.VolumeId))
            _store.MarkIncoming(destination.VolumeId);
        _journal.Remove(destination.MigrationId, MigrationRole.Destination);
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

    private TransferFailed Failure(Guid migrationId, string phase, string reason, int attempt) =>
        new(migrationId, _options.StorageId, phase, reason, DateTimeOffset.UtcNow, attempt);

    private Task Failed(Guid migrationId, string phase, string reason, int attempt) => PublishAsync(Failure(migrationId, phase, reason, attempt));

    // By the message's own type: a repeat is held as object, which would otherwise be published as System.Object.
    private async Task PublishAsync(object message)
    {
        try
        {
            await _bus().Publish(message, message.GetType()).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            _log.LogError(e, "Could not publish {Event}", message.GetType().Name);
        }
    }

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

    /// <summary>Stops every session (the worker is shutting down); the volumes and the journal stay, so a restart reports them.</summary>
    public async Task StopAsync()
    {
        List<(CancellationTokenSource, Task)> running;
        lock (_gate)
        {
            running = [.. _sources.Values.Select(s => (s.Stop, s.Run)), .. _destinations.Values.Select(d => (d.Stop, d.Run))];
            _sources.Clear();
            _sourceFailures.Clear();
            _destinations.Clear();
        }

        foreach (var (stop, run) in running)
            await StopSessionAsync(stop, run).ConfigureAwait(false);
    }
}
