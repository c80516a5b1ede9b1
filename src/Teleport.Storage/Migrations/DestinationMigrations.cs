using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Teleport.Blocks;
using Teleport.Contracts;
using Teleport.Storage.Volumes;
using Teleport.Transfer;

namespace Teleport.Storage.Migrations;

/// <summary>
/// The incoming migrations of this worker. PrepareDestination marks the volume incoming, journals the side, opens a
/// listening session and answers DestinationPrepared (again, unchanged, to a duplicate); a later attempt replaces an
/// earlier one. The lock guards the maps only: the files and the listener are handled outside it, with the volume
/// claimed meanwhile so no other migration can take it.
/// </summary>
internal sealed class DestinationMigrations(MigrationServices services) : MigrationRegistry<DestinationMigration>(services)
{
    public async Task PrepareAsync(PrepareDestination command)
    {
        if (S.Journal.Refusing(command.MigrationId, MigrationRole.Destination, command.Attempt) is { } interrupted)
        {
            await S.Journal.RefuseAsync(nameof(PrepareDestination), interrupted, interrupted.Phase, command.Attempt).ConfigureAwait(false);
            return;
        }

        DestinationMigration? replaced = null;
        DestinationPrepared? prepared = null;
        lock (Gate)
        {
            if (Running.TryGetValue(command.MigrationId, out var existing))
            {
                if (command.Attempt <= existing.Attempt)
                    prepared = existing.Prepared with { Attempt = command.Attempt, PreparedAt = DateTimeOffset.UtcNow };
                else
                    Running.Remove(command.MigrationId, out replaced);
            }
        }

        if (prepared is null && replaced is not null)
        {
            S.Log.LogInformation("Attempt {Attempt} of migration {MigrationId} replaces attempt {Old}", command.Attempt, command.MigrationId, replaced.Attempt);
            await RetireAsync(replaced).ConfigureAwait(false);
        }

        try
        {
            prepared ??= Receive(command);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException or UnauthorizedAccessException or SocketException)
        {
            S.Log.LogError("Cannot prepare volume {Volume} for migration {MigrationId}: {Reason}", command.VolumeId, command.MigrationId, e.Message);
            await S.Replies.FailedAsync(command.MigrationId, MigrationPhases.Prepare, e.Message, command.Attempt).ConfigureAwait(false);
            return;
        }

        await S.Replies.PublishAsync(prepared).ConfigureAwait(false);
    }

    private DestinationPrepared Receive(PrepareDestination command)
    {
        var migration = Open(command.MigrationId, command.VolumeId, () => Check(command), nbd => Listen(command, nbd), RunAsync);
        S.Log.LogInformation("Receiving volume {Volume} for migration {MigrationId} (attempt {Attempt}) from storage {Source} on {DataEndpoint}, TLS {Tls}",
            command.VolumeId, command.MigrationId, command.Attempt, command.SourceStorageId, migration.Prepared.DataEndpoint, S.DataChannel.Describe);
        return migration.Prepared;
    }

    // Caller holds the gate: whether this worker may receive the volume, and where VM hosts reach it over NBD.
    private IPEndPoint Check(PrepareDestination command)
    {
        if (!string.Equals(command.DestinationStorageId, S.StorageId, StringComparison.Ordinal))
            throw new ArgumentException($"PrepareDestination for storage '{command.DestinationStorageId}' reached storage '{S.StorageId}'");
        VolumeStore.Validate(command.VolumeId);
        if (S.Volumes.Contains(command.VolumeId))
            throw new InvalidOperationException($"volume '{command.VolumeId}' already exists on storage '{S.StorageId}' and is in use");
        if (Busy(command.VolumeId))
            throw new InvalidOperationException($"volume '{command.VolumeId}' is already being received by another migration");
        if (command.Options.FencedCutover && command.Options.VolumeBytes is null)
            throw new ArgumentException("the fenced cut-over needs the volume's size in the request (MigrationOptions.VolumeBytes): the fence is built before the source connects");
        if (S.Journal.Receiving(command.VolumeId, except: command.MigrationId) is { } other)
            throw new InvalidOperationException($"volume '{command.VolumeId}' belongs to migration {other}, interrupted by a restart of this worker and not aborted yet");
        return S.Exports.EndPoint as IPEndPoint
            ?? throw new InvalidOperationException($"storage '{S.StorageId}' does not serve NBD yet (not started)");
    }

    // The slow part, outside the lock: the incoming marker, the journal and the listener.
    private DestinationMigration Listen(PrepareDestination command, IPEndPoint nbd)
    {
        // The VM's host may open the volume over TLS once it is served here (the grant outlives this worker's restarts).
        if (!string.IsNullOrEmpty(command.AllowedClient))
            S.Exports.Clients.Allow(command.VolumeId, command.AllowedClient);
        // The marker keeps a half-built volume from being served, also across a restart of this worker.
        S.Store.MarkIncoming(command.VolumeId);
        var journal = new JournalEntry(command.MigrationId, MigrationRole.Destination, command.VolumeId, command.Attempt, MigrationPhases.Prepare, false,
            DateTimeOffset.UtcNow);
        S.Journal.Write(journal);
        byte[] secret = S.DataChannel.NewSecret();
        var events = S.Replies.Ordered();
        var fence = command.Options is { FencedCutover: true, VolumeBytes: { } bytes }
            ? new BlockFence(bytes, command.Options.BlockSize ?? S.Options.BlockSize, S.Options.FenceWaitTimeout)
            : null;
        DestinationMigration? migration = null;
        var observer = new DestinationEventObserver(command.MigrationId, command.Attempt, events,
            phase => S.Journal.Update(journal with { Phase = StoragePhases.Of(phase) }), S.Resolved, _ => ServeFenced(migration!, fence!));
        var session = NewSession(command, secret, observer, fence);
        // Offered held from now on: the VM's host selects the export before the pause, so its switch is a local swap.
        if (fence is not null)
            S.Exports.Hold(command.VolumeId, fence);
        IPEndPoint bound;
        try
        {
            bound = session.Start();
        }
        catch
        {
            if (fence is not null)
                S.Exports.Unexport(command.VolumeId);
            _ = session.DisposeAsync().AsTask();
            _ = events.DrainAsync();
            S.Journal.Remove(command.MigrationId, MigrationRole.Destination);
            throw;
        }

        var (published, pin) = S.DataChannel.Published(secret);
        var prepared = new DestinationPrepared(command.MigrationId, S.StorageId, command.VolumeId, S.Options.Advertise(bound),
            published, pin, S.Options.Advertise(nbd), command.VolumeId, DateTimeOffset.UtcNow, command.Attempt, MutualTls: S.DataChannel.Mutual is not null);
        migration = new DestinationMigration(command, session, observer, events, prepared, journal);
        return migration;
    }

    // The final round is announced and the fence armed (fenced cut-over): the volume is attached to its held export, whose
    // waiting commands go on; the blocks still in flight wait behind the fence. Called once, from the session, before any completion.
    private void ServeFenced(DestinationMigration m, BlockFence fence)
    {
        m.MarkServed();
        S.Exports.Export(m.VolumeId, fence);
        S.Log.LogInformation("Volume {Volume} of migration {MigrationId} served before verification, {Fenced} blocks fenced", m.VolumeId, m.MigrationId,
            fence.FencedCount);
    }

    private DestinationSession NewSession(PrepareDestination command, byte[] secret, DestinationEventObserver observer, BlockFence? fence) => new(new DestinationOptions
    {
        MigrationId = command.MigrationId,
        Secret = secret,
        VolumePath = S.Store.PathOf(command.VolumeId),
        StatePath = S.Store.SessionStatePathOf(command.VolumeId),
        Listen = S.Options.DataEndPoint,
        Index = command.Options.UseIndex ? S.Index : null,
        Buddies = command.Options.UseIndex ? S.Options.Buddies.ForDestination(S.DataChannel.Mutual) : null,
        ReadAheadBytes = S.Options.ReceiveReadAheadBytes,
        HandshakeTimeout = S.Options.DataChannel.HandshakeTimeout,
        MaxHandshakes = S.Options.DataChannel.MaxHandshakes,
        MaxHandshakesPerPeer = S.Options.DataChannel.MaxHandshakesPerPeer,
        ExpectedVolumeBytes = command.Options.VolumeBytes,
        Tls = S.DataChannel.ForDestination(command.SourceStorageId),
        Observer = observer,
        Fence = fence,
    }, S.Loggers.CreateLogger<DestinationSession>());

    private async Task RunAsync(DestinationMigration m)
    {
        using var scope = StorageMigrations.Scope(S.Log, m.MigrationId);
        try
        {
            var result = await m.Session.RunAsync(m.Stop.Token).ConfigureAwait(false);
            Complete(m, result);
        }
        catch (Exception) when (m.Stop.IsCancellationRequested)
        {
            S.Log.LogInformation("Receiving volume {Volume} for migration {MigrationId} stopped", m.VolumeId, m.MigrationId);
        }
        catch (Exception e)
        {
            S.Log.LogError(e, "Receiving volume {Volume} for migration {MigrationId} failed", m.VolumeId, m.MigrationId);
            KeepOrRemoveFailed(m);
            m.Events.Post(S.Replies.Failure(m.MigrationId, StoragePhases.Of(m.Observer.Phase), e.Message, m.Attempt));
        }
        finally
        {
            await m.Events.DrainAsync().ConfigureAwait(false);
            await m.Session.DisposeAsync().ConfigureAwait(false);
        }
    }

    private void Complete(DestinationMigration m, TransferResult result)
    {
        S.Index?.Save();
        long volumeBytes = new FileInfo(S.Store.PathOf(m.VolumeId)).Length;
        if (result.Verified)
        {
            S.Store.MarkComplete(m.VolumeId);
            S.Exports.Export(m.VolumeId);
        }
        else if (!m.Served)
        {
            // Never served (its fence not armed): the held export goes, the volume is not the source's.
            S.Exports.Unexport(m.VolumeId);
        }

        m.MarkCompleted();
        // Kept until an abort or a later attempt: after a restart, a rollback must still be able to unexport it.
        S.Journal.Update(m.Journal with { Phase = MigrationPhases.CutOver, Completed = true });
        S.Log.LogInformation("Volume {Volume} received for migration {MigrationId}: verified {Verified}, {BytesOnWire} bytes on the wire, {Rounds} rounds, " +
            "{BlocksFromBuddies} blocks ({BuddyBytes} bytes) from buddies, {BuddyBlocksRejected} wrong ones refused",
            m.VolumeId, m.MigrationId, result.Verified, result.BytesOnWire, result.Rounds, result.BlocksFromBuddies, result.BuddyBytes, result.BuddyBlocksRejected);
        m.Events.Post(new MigrationCompleted(m.MigrationId, S.StorageId, m.VolumeId, result.Verified, volumeBytes, result.BytesOnWire,
            result.BlocksFromIndex, result.BlocksSent, result.Rounds, DateTimeOffset.UtcNow, m.Attempt));
    }

    // A volume served before it completed (fenced cut-over) may carry a running VM: it stays served and journaled, as a
    // completed side, until the saga aborts it (a rollback before the resume) or an operator does.
    private void KeepOrRemoveFailed(DestinationMigration m)
    {
        if (m.Served)
        {
            m.MarkCompleted();
            S.Journal.Update(m.Journal with { Phase = MigrationPhases.CutOver, Completed = true });
            S.Log.LogError("Volume {Volume} of migration {MigrationId} stays served with its tail incomplete: I/O on the blocks still fenced fails with EIO",
                m.VolumeId, m.MigrationId);
            return;
        }

        S.Exports.Unexport(m.VolumeId);
        RemoveFailed(m);
        S.Journal.Remove(m.MigrationId, MigrationRole.Destination);
    }

    /// <summary>Stops a destination session; the source stays authoritative, so a volume it completed is not served any more.</summary>
    public async Task RetireAsync(DestinationMigration destination)
    {
        await destination.StopAsync(S.Options.StopTimeout, S.Log).ConfigureAwait(false);
        // Also withdraws an export still held (never served): its connections close.
        if (S.Exports.Unexport(destination.VolumeId) && (destination.Completed || destination.Served))
            S.Store.MarkIncoming(destination.VolumeId);
        S.Journal.Remove(destination.MigrationId, MigrationRole.Destination);
    }
}
