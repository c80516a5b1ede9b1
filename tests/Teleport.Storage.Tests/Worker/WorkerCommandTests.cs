using Teleport.Contracts;

namespace Teleport.Storage.Tests.Worker;

/// <summary>Repeated, late and bad commands on the real broker: harmless, and reported as TransferFailed where they cannot be carried out.</summary>
public sealed class WorkerCommandTests
{
    private static readonly MigrationOptions Options = new(BlockSize: 4096);

    [Fact]
    public async Task Duplicate_commands_change_nothing_and_the_migration_completes_once()
    {
        await using var rig = await MigrationRig.Start();
        var id = Guid.NewGuid();

        await rig.Prepare(id, Options);
        await rig.Prepare(id, Options);
        var prepared = await rig.Log.WaitFor<DestinationPrepared>(e => e.MigrationId == id, MigrationRig.Timeout);
        await rig.StartTransfer(id, prepared, Options);
        await rig.StartTransfer(id, prepared, Options);
        await rig.Log.WaitFor<DirtyBelowThreshold>(e => e.MigrationId == id, MigrationRig.Timeout);
        await rig.FinalSync(id);
        await rig.FinalSync(id);
        var completed = await rig.Log.WaitFor<MigrationCompleted>(e => e.MigrationId == id, MigrationRig.Timeout);

        var prepares = await rig.Settled<DestinationPrepared>(id);
        Assert.Equal(2, prepares.Count);
        Assert.Equal(prepares[0].Secret, prepares[1].Secret);
        Assert.Equal(prepares[0].DataEndpoint, prepares[1].DataEndpoint);
        Assert.True(completed.Verified);
        // One transfer, one completion: a FinalSync consumed after the completion re-publishes it with the same figures.
        Assert.Single((await rig.Settled<MigrationCompleted>(id)).Select(c => c with { CompletedAt = default }).Distinct());
        Assert.Single((await rig.Settled<IndexStreamed>(id)).Distinct());
        Assert.Empty(await rig.Settled<TransferFailed>(id));
        Assert.True(BusMigrationTests.FilesEqual(rig.SourceVolume, rig.DestinationVolume));
    }

    [Fact]
    public async Task Abort_mid_copy_stops_both_sides_without_completion_and_a_retry_then_succeeds()
    {
        await using var rig = await MigrationRig.Start();
        var id = Guid.NewGuid();
        // 8 MiB of data at 512 KiB/s: the copy round lasts long enough to be interrupted.
        var slow = Options with { BandwidthBytesPerSecond = 512 * 1024 };

        await rig.Prepare(id, slow);
        var prepared = await rig.Log.WaitFor<DestinationPrepared>(e => e.MigrationId == id, MigrationRig.Timeout);
        await rig.StartTransfer(id, prepared, slow);
        await rig.Log.WaitFor<BlocksRequested>(e => e.MigrationId == id, MigrationRig.Timeout);
        await rig.Abort(id, rig.Source.Id);
        await rig.Abort(id, rig.Destination.Id);
        await rig.Log.WaitFor<TransferAborted>(e => e.MigrationId == id && e.StorageId == rig.Source.Id, MigrationRig.Timeout);
        await rig.Log.WaitFor<TransferAborted>(e => e.MigrationId == id && e.StorageId == rig.Destination.Id, MigrationRig.Timeout);

        Assert.Empty(await rig.Settled<MigrationCompleted>(id));
        Assert.Empty(await rig.Settled<DirtyBelowThreshold>(id));
        Assert.Empty(await rig.Settled<TransferFailed>(id));
        Assert.Equal(0, rig.Source.Migrations.Count);
        Assert.Equal(0, rig.Destination.Migrations.Count);
        Assert.True(rig.Source.Volumes.Contains("lamp"), "the source keeps serving its volume");
        Assert.False(rig.Destination.Volumes.Contains("lamp"), "the half-received volume is not served");
        Assert.True(File.Exists(rig.DestinationVolume + ".incoming"));

        // The saga's retry: the same migration prepared and started again, now at full speed.
        await rig.Prepare(id, Options);
        var again = await rig.Log.WaitFor<DestinationPrepared>(e => e.MigrationId == id && e.Secret != prepared.Secret, MigrationRig.Timeout);
        await rig.StartTransfer(id, again, Options);
        await rig.Log.WaitFor<DirtyBelowThreshold>(e => e.MigrationId == id, MigrationRig.Timeout);
        await rig.FinalSync(id);
        var completed = await rig.Log.WaitFor<MigrationCompleted>(e => e.MigrationId == id, MigrationRig.Timeout);
        Assert.True(completed.Verified);
        Assert.True(BusMigrationTests.FilesEqual(rig.SourceVolume, rig.DestinationVolume));
    }

    [Fact]
    public async Task A_later_attempt_replaces_an_earlier_one_and_late_commands_of_the_earlier_one_change_nothing()
    {
        await using var rig = await MigrationRig.Start();
        var id = Guid.NewGuid();
        var slow = Options with { BandwidthBytesPerSecond = 256 * 1024 };

        await rig.Prepare(id, slow, attempt: 1);
        var first = await rig.Log.WaitFor<DestinationPrepared>(e => e.MigrationId == id && e.Attempt == 1, MigrationRig.Timeout);
        await rig.StartTransfer(id, first, slow, attempt: 1);
        await rig.Log.WaitFor<BlocksRequested>(e => e.MigrationId == id && e.Attempt == 1, MigrationRig.Timeout);

        // The saga gave up on attempt 1 without an abort reaching the workers, and starts attempt 2.
        await rig.Prepare(id, Options, attempt: 2);
        var second = await rig.Log.WaitFor<DestinationPrepared>(e => e.MigrationId == id && e.Attempt == 2, MigrationRig.Timeout);
        Assert.NotEqual(first.Secret, second.Secret);
        await rig.StartTransfer(id, second, Options, attempt: 2);
        // Late commands of attempt 1: a duplicate prepare is answered with attempt 1 (the saga ignores it), an abort
        // is acknowledged but stops nothing of attempt 2.
        await rig.Prepare(id, Options, attempt: 1);
        await rig.Abort(id, rig.Source.Id, attempt: 1);
        await rig.Abort(id, rig.Destination.Id, attempt: 1);
        await rig.Log.WaitFor<TransferAborted>(e => e.MigrationId == id && e.StorageId == rig.Destination.Id && e.Attempt == 1, MigrationRig.Timeout);

        await rig.Log.WaitFor<DirtyBelowThreshold>(e => e.MigrationId == id && e.Attempt == 2, MigrationRig.Timeout);
        await rig.FinalSync(id, attempt: 2);
        var completed = await rig.Log.WaitFor<MigrationCompleted>(e => e.MigrationId == id, MigrationRig.Timeout);
        Assert.Equal(2, completed.Attempt);
        Assert.True(completed.Verified);
        Assert.True(BusMigrationTests.FilesEqual(rig.SourceVolume, rig.DestinationVolume));
        Assert.Empty(rig.Log.All<MigrationCompleted>(e => e.MigrationId == id && e.Attempt == 1));
        Assert.Empty(rig.Log.All<TransferFailed>(e => e.MigrationId == id && e.Attempt == 2));
        Assert.Equal(2, rig.Log.All<DestinationPrepared>(e => e.MigrationId == id && e.Attempt == 1).Count);
    }

    [Fact]
    public async Task Commands_that_cannot_be_carried_out_publish_TransferFailed_with_the_phase()
    {
        await using var rig = await MigrationRig.Start();
        var badName = Guid.NewGuid();
        var missing = Guid.NewGuid();
        var badSecret = Guid.NewGuid();
        var unknown = Guid.NewGuid();
        var wrongWorker = Guid.NewGuid();
        var inUse = Guid.NewGuid();

        await rig.Prepare(badName, Options, volume: "../escape");
        await rig.Saga.Send(rig.Source.Id, new StartTransfer(missing, "nosuch", rig.Source.Id, rig.Destination.Id, "127.0.0.1:9", Convert.ToBase64String(new byte[32]), null, Options));
        await rig.Saga.Send(rig.Source.Id, new StartTransfer(badSecret, "lamp", rig.Source.Id, rig.Destination.Id, "127.0.0.1:9", "not base64!", null, Options));
        await rig.FinalSync(unknown);
        await rig.Saga.Send(rig.Source.Id, new PrepareDestination(wrongWorker, "other", rig.Source.Id, rig.Destination.Id, Options));
        // "lamp" is served by the source worker: it cannot be the destination of a migration there.
        await rig.Saga.Send(rig.Source.Id, new PrepareDestination(inUse, "lamp", rig.Destination.Id, rig.Source.Id, Options));

        var f1 = await rig.Log.WaitFor<TransferFailed>(e => e.MigrationId == badName, MigrationRig.Timeout);
        Assert.Equal(("Prepare", rig.Destination.Id), (f1.Phase, f1.StorageId));
        Assert.Contains("not a volume name", f1.Reason);
        var f2 = await rig.Log.WaitFor<TransferFailed>(e => e.MigrationId == missing, MigrationRig.Timeout);
        Assert.Equal("Index", f2.Phase);
        Assert.Contains("'nosuch' is not served", f2.Reason);
        var f3 = await rig.Log.WaitFor<TransferFailed>(e => e.MigrationId == badSecret, MigrationRig.Timeout);
        Assert.Equal("Index", f3.Phase);
        var f4 = await rig.Log.WaitFor<TransferFailed>(e => e.MigrationId == unknown, MigrationRig.Timeout);
        Assert.Equal("CutOver", f4.Phase);
        var f5 = await rig.Log.WaitFor<TransferFailed>(e => e.MigrationId == wrongWorker, MigrationRig.Timeout);
        Assert.Contains("reached storage", f5.Reason);
        var f6 = await rig.Log.WaitFor<TransferFailed>(e => e.MigrationId == inUse, MigrationRig.Timeout);
        Assert.Equal(("Prepare", rig.Source.Id), (f6.Phase, f6.StorageId));
        Assert.Contains("in use", f6.Reason);
        Assert.False(File.Exists(rig.SourceVolume + ".incoming"));

        Assert.False(File.Exists(Path.Combine(rig.Root, "escape.img")));
        Assert.Equal(0, rig.Source.Migrations.Count);
        Assert.Equal(0, rig.Destination.Migrations.Count);
        Guid[] ids = [badName, missing, badSecret, unknown, wrongWorker, inUse];
        Assert.Empty(rig.Log.All<DestinationPrepared>(e => ids.Contains(e.MigrationId)));
    }
}
