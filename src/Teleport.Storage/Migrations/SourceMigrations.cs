using Microsoft.Extensions.Logging;
using Teleport.Blocks;
using Teleport.Contracts;
using Teleport.Storage.Volumes;
using Teleport.Transfer;

namespace Teleport.Storage.Migrations;

/// <summary>
/// The outgoing migrations of this worker. StartTransfer journals the side and starts a session in the background; a
/// duplicate of the same attempt never starts a second one but gets the progress made (or the failure) again;
/// FinalSync signals the final round, or repeats MigrationCompleted once it is done. The lock guards the maps only:
/// the journal is written outside it, with the volume claimed meanwhile so no other migration can take it.
/// </summary>
internal sealed class SourceMigrations(MigrationServices services) : MigrationRegistry<SourceMigration>(services)
{
    // How the last attempt of an outgoing migration failed, kept until an abort or a later attempt: a duplicate
    // StartTransfer or FinalSync of that attempt is answered with the same failure instead of starting over.
    private readonly Dictionary<Guid, TransferFailed> _failures = new();

    public async Task StartAsync(StartTransfer command)
    {
        if (S.Journal.Refusing(command.MigrationId, MigrationRole.Source, command.Attempt) is { } interrupted)
        {
            await S.Journal.RefuseAsync(nameof(StartTransfer), interrupted, interrupted.Phase, command.Attempt).ConfigureAwait(false);
            return;
        }

        if (Ignored(command, out var repeat, out var replaced))
            return;
        if (repeat is not null)
        {
            // The saga re-sent it (a command or an answer may have been lost): never a second transfer, the same answers.
            S.Log.LogInformation("StartTransfer for migration {MigrationId} (attempt {Attempt}) repeated: it already ran; re-publishing {Events}",
                command.MigrationId, command.Attempt, repeat.Count == 0 ? "nothing (no progress yet)" : string.Join(", ", repeat.Select(e => e.GetType().Name)));
            foreach (object message in repeat)
                await S.Replies.PublishAsync(message).ConfigureAwait(false);
            return;
        }

        if (replaced is not null)
        {
            S.Log.LogInformation("Attempt {Attempt} of migration {MigrationId} replaces attempt {Old}", command.Attempt, command.MigrationId, replaced.Attempt);
            await replaced.StopAsync(S.Options.StopTimeout, S.Log).ConfigureAwait(false);
        }

        try
        {
            Send(command);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException or IOException)
        {
            S.Log.LogError("Cannot start migration {MigrationId} of volume {Volume}: {Reason}", command.MigrationId, command.VolumeId, e.Message);
            var failure = S.Replies.Failure(command.MigrationId, MigrationPhases.Index, e.Message, command.Attempt);
            lock (Gate)
                _failures[command.MigrationId] = failure;
            await S.Replies.PublishAsync(failure).ConfigureAwait(false);
        }
    }

    // What this worker already did for the migration: true for an earlier attempt than the one it ran (ignored); the
    // answers a repeat of the same attempt gets again; or neither, to start, with an earlier attempt it replaces taken out.
    private bool Ignored(StartTransfer command, out IReadOnlyList<object>? repeat, out SourceMigration? replaced)
    {
        repeat = null;
        replaced = null;
        int newer;
        bool failed;
        lock (Gate)
        {
            if (Running.TryGetValue(command.MigrationId, out var existing))
            {
                (newer, failed) = (existing.Attempt, false);
                if (command.Attempt == existing.Attempt)
                    repeat = existing.Observer.Progress();
                else if (command.Attempt > existing.Attempt)
                    Running.Remove(command.MigrationId, out replaced);
            }
            else if (_failures.TryGetValue(command.MigrationId, out var failure))
            {
                (newer, failed) = (failure.Attempt, true);
                if (command.Attempt == failure.Attempt)
                    repeat = [failure];
                else if (command.Attempt > failure.Attempt)
                    _failures.Remove(command.MigrationId);
            }
            else
            {
                return false;
            }
        }

        if (command.Attempt >= newer)
            return false;
        if (failed)
            S.Log.LogInformation("StartTransfer of attempt {Attempt} ignored: attempt {Failed} failed since", command.Attempt, newer);
        else
            S.Log.LogInformation("StartTransfer of attempt {Attempt} ignored: attempt {Running} runs", command.Attempt, newer);
        return true;
    }

    private void Send(StartTransfer command)
    {
        Open(command.MigrationId, command.VolumeId, () => Check(command), p => NewMigration(command, p), RunAsync);
        S.Log.LogInformation("Sending volume {Volume} for migration {MigrationId} (attempt {Attempt}) to storage {Destination} at {DataEndpoint}, TLS {Tls}",
            command.VolumeId, command.MigrationId, command.Attempt, command.DestinationStorageId, command.DataEndpoint,
            S.DataChannel.Mutual is not null ? "mutual" : command.CertificateSha256 is not null ? "pinned" : "off");
    }

    // Caller holds the gate: whether this worker may send the volume, and the command's fields parsed.
    private Fields Check(StartTransfer command)
    {
        if (!string.Equals(command.SourceStorageId, S.StorageId, StringComparison.Ordinal))
            throw new ArgumentException($"StartTransfer for storage '{command.SourceStorageId}' reached storage '{S.StorageId}'");
        VolumeStore.Validate(command.VolumeId);
        if (!S.Volumes.TryGet(command.VolumeId, out var volume))
            throw new InvalidOperationException($"volume '{command.VolumeId}' is not served by storage '{S.StorageId}'");
        if (Busy(command.VolumeId))
            throw new InvalidOperationException($"volume '{command.VolumeId}' is already being migrated by another migration");
        if (command.Options.VolumeBytes is { } expected && expected != volume.Export.Size)
            throw new ArgumentException($"{nameof(TransferErrorCode.VolumeMismatch)}: the migration was prepared for a volume of {expected} bytes, " +
                                        $"but volume '{command.VolumeId}' on storage '{S.StorageId}' has {volume.Export.Size}");
        var (destination, tls, secret) = S.DataChannel.ForSource(command);
        int blockSize = command.Options.BlockSize ?? volume.Tracker.BlockSize;
        if (blockSize != volume.Tracker.BlockSize)
            throw new ArgumentException($"block size {blockSize} asked for, but volume '{command.VolumeId}' is tracked in {volume.Tracker.BlockSize}-byte blocks");
        return new Fields(volume, tls, blockSize, secret, destination);
    }

    // Outside the lock: the journal, then the session (it connects when it runs).
    private SourceMigration NewMigration(StartTransfer command, Fields p)
    {
        var journal = new JournalEntry(command.MigrationId, MigrationRole.Source, command.VolumeId, command.Attempt, MigrationPhases.Index, false,
            DateTimeOffset.UtcNow);
        S.Journal.Write(journal);
        var events = S.Replies.Ordered();
        long threshold = command.Options.DirtyThresholdBlocks ?? S.Options.DirtyThresholdBlocks;
        int maxRounds = command.Options.MaxCopyRounds ?? S.Options.MaxCopyRounds;
        var observer = new SourceEventObserver(command.MigrationId, command.Attempt, p.Volume.Export.Size, threshold, maxRounds, events,
            phase => S.Journal.Update(journal with { Phase = StoragePhases.Of(phase) }));
        var session = new SourceSession(new SourceOptions
        {
            MigrationId = command.MigrationId,
            Secret = p.Secret,
            VolumePath = p.Volume.Path,
            Destination = p.Destination,
            BlockSize = p.BlockSize,
            CompressionLevel = command.Options.CompressionLevel ?? S.Options.CompressionLevel,
            MaxCompressionWindowLog = S.Options.MaxCompressionWindowLog,
            Bandwidth = command.Options.BandwidthBytesPerSecond is > 0 and var rate ? ByteRate.FromBytesPerSecond(rate) : ByteRate.Unlimited,
            DirtyThresholdBlocks = threshold,
            MaxRounds = maxRounds,
            FencedCutover = command.Options.FencedCutover,
            HandshakeTimeout = S.Options.DataChannel.HandshakeTimeout,
            Tls = p.Tls,
            Observer = observer,
        }, p.Volume.Tracker, S.Loggers.CreateLogger<SourceSession>());
        return new SourceMigration(command, p.Volume.Export.Size, session, observer, events);
    }

    public Task FinalSyncAsync(FinalSync command)
    {
        if (S.Journal.Refusing(command.MigrationId, MigrationRole.Source, command.Attempt) is { } interrupted)
            return S.Journal.RefuseAsync(nameof(FinalSync), interrupted, MigrationPhases.CutOver, command.Attempt);
        SourceMigration? migration;
        TransferFailed? failure;
        lock (Gate)
        {
            migration = Running.GetValueOrDefault(command.MigrationId);
            failure = _failures.GetValueOrDefault(command.MigrationId);
        }

        if (migration is null && failure is not null && failure.Attempt == command.Attempt)
        {
            S.Log.LogInformation("FinalSync for migration {MigrationId} (attempt {Attempt}): its transfer failed; re-publishing the failure",
                command.MigrationId, command.Attempt);
            return S.Replies.PublishAsync(failure);
        }

        if (migration is null || command.Attempt > migration.Attempt)
        {
            S.Log.LogError("FinalSync for migration {MigrationId}, which is not running on storage {StorageId}", command.MigrationId, S.StorageId);
            return S.Replies.FailedAsync(command.MigrationId, MigrationPhases.CutOver,
                $"no transfer of migration {command.MigrationId} (attempt {command.Attempt}) runs on storage '{S.StorageId}': unknown migration " +
                "(never started here, already failed or aborted)", command.Attempt);
        }

        return Signal(command, migration);
    }

    private Task Signal(FinalSync command, SourceMigration migration)
    {
        if (command.Attempt < migration.Attempt)
        {
            S.Log.LogInformation("FinalSync of attempt {Attempt} ignored: attempt {Running} runs", command.Attempt, migration.Attempt);
            return Task.CompletedTask;
        }

        if (migration.Completion is { } completion)
        {
            // Done already: the destination's MigrationCompleted may have been lost, so the saga asks again.
            S.Log.LogInformation("FinalSync for migration {MigrationId} (attempt {Attempt}) repeated after the final sync completed; re-publishing MigrationCompleted",
                command.MigrationId, command.Attempt);
            return S.Replies.PublishAsync(completion);
        }

        S.Log.LogInformation("Final round of migration {MigrationId} begins", command.MigrationId);
        migration.Session.BeginCutover();
        return Task.CompletedTask;
    }

    /// <summary>Also forgets how that attempt or an earlier one failed.</summary>
    public override SourceMigration? TakeForAbort(Guid migrationId, int attempt)
    {
        lock (Gate)
        {
            if (_failures.TryGetValue(migrationId, out var failed) && failed.Attempt <= attempt)
                _failures.Remove(migrationId);
            return base.TakeForAbort(migrationId, attempt);
        }
    }

    /// <summary>Takes out the side of a migration whose transfer of <paramref name="volumeId"/> completed with <paramref name="attempt"/>; null if there is none.</summary>
    public SourceMigration? TakeCompleted(Guid migrationId, int attempt, string volumeId)
    {
        lock (Gate)
        {
            return Running.TryGetValue(migrationId, out var side) && side.Completed && side.Attempt == attempt && side.VolumeId == volumeId
                   && Running.Remove(migrationId)
                ? side
                : null;
        }
    }

    /// <summary>Stops an aborted migration; the source volume stays as it is, authoritative.</summary>
    public async Task StopAbortedAsync(SourceMigration migration)
    {
        await migration.StopAsync(S.Options.StopTimeout, S.Log).ConfigureAwait(false);
        S.Journal.Remove(migration.MigrationId, MigrationRole.Source);
    }

    /// <summary>Also forgets the failures.</summary>
    public override IReadOnlyList<MigrationSide> TakeAll()
    {
        lock (Gate)
        {
            _failures.Clear();
            return base.TakeAll();
        }
    }

    private async Task RunAsync(SourceMigration m)
    {
        using var scope = StorageMigrations.Scope(S.Log, m.MigrationId);
        try
        {
            var result = await m.Session.RunAsync(m.Stop.Token).ConfigureAwait(false);
            // The destination publishes MigrationCompleted; the source keeps the same figures of this transfer for a
            // duplicate FinalSync, which is all the saga re-sends when that event was lost.
            m.Completion = new MigrationCompleted(m.MigrationId, m.DestinationStorageId, m.VolumeId, result.Verified, m.VolumeBytes, result.BytesOnWire,
                result.BlocksFromIndex, result.BlocksSent, result.Rounds, DateTimeOffset.UtcNow, m.Attempt);
            S.Journal.Remove(m.MigrationId, MigrationRole.Source);
            S.Log.LogInformation(
                "Volume {Volume} sent for migration {MigrationId}: {BytesOnWire} bytes on the wire, {BlocksSent} blocks sent, {FromIndex} from the destination's index, {Rounds} rounds",
                m.VolumeId, m.MigrationId, result.BytesOnWire, result.BlocksSent, result.BlocksFromIndex, result.Rounds);
        }
        catch (Exception) when (m.Stop.IsCancellationRequested)
        {
            S.Log.LogInformation("Sending volume {Volume} for migration {MigrationId} stopped", m.VolumeId, m.MigrationId);
        }
        catch (Exception e)
        {
            S.Log.LogError(e, "Sending volume {Volume} for migration {MigrationId} failed", m.VolumeId, m.MigrationId);
            var failure = S.Replies.Failure(m.MigrationId, StoragePhases.Of(m.Observer.Phase), e.Message, m.Attempt);
            RemoveFailed(m, () => _failures[m.MigrationId] = failure);

            S.Journal.Remove(m.MigrationId, MigrationRole.Source);
            m.Events.Post(failure);
        }
        finally
        {
            await m.Events.DrainAsync().ConfigureAwait(false);
            await m.Session.DisposeAsync().ConfigureAwait(false);
        }
    }

    private sealed record Fields(VolumeEntry Volume, TransferTls? Tls, int BlockSize, byte[] Secret, System.Net.EndPoint Destination);
}
