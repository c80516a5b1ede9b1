using Teleport.Contracts;
using Teleport.Nbd.Client;

namespace Teleport.Storage.Tests.Worker;

/// <summary>
/// A worker restarted in the middle of a migration (real RabbitMQ): it reports the migration failed, naming the
/// restart, refuses the commands of that attempt, never exports a half-received volume, and a later attempt works.
/// </summary>
public sealed class RestartTests
{
    // 8 MiB of data at 256 KiB/s: the copy round lasts long enough for a restart in the middle, also on a busy machine.
    private static readonly MigrationOptions Slow = new(BlockSize: 4096, BandwidthBytesPerSecond: 256 * 1024);
    private static readonly MigrationOptions Fast = new(BlockSize: 4096);

    [Fact]
    public async Task A_restarted_destination_reports_failure_keeps_the_partial_volume_unexported_and_a_retry_completes()
    {
        await using var rig = await MigrationRig.Start();
        var id = Guid.NewGuid();
        await rig.Prepare(id, Slow);
        var prepared = await rig.Log.WaitFor<DestinationPrepared>(e => e.MigrationId == id, MigrationRig.Timeout);
        await rig.StartTransfer(id, prepared, Slow);
        await rig.Log.WaitFor<BlocksRequested>(e => e.MigrationId == id, MigrationRig.Timeout);

        await rig.RestartDestination();

        var failed = await rig.Log.WaitFor<TransferFailed>(e => e.MigrationId == id && e.StorageId == rig.Destination.Id, MigrationRig.Timeout);
        Assert.Contains($"storage worker '{rig.Destination.Id}' restarted while receiving volume 'lamp'", failed.Reason);
        Assert.Contains("cannot finish", failed.Reason);
        Assert.Equal(1, failed.Attempt);
        Assert.Contains(failed.Phase, new[] { "Request", "Copy" });
        Assert.Single(rig.Destination.Migrations.Interrupted);
        Assert.False(rig.Destination.Volumes.Contains("lamp"), "a half-received volume must not be served");
        Assert.True(File.Exists(rig.DestinationVolume + ".incoming"));
        var exports = await NbdClient.ListExportsAsync(rig.Destination.NbdEndPoint);
        Assert.DoesNotContain(exports, e => e.Name == "lamp");

        // The same attempt again is refused with the same reason; nothing completes.
        await rig.Prepare(id, Slow);
        await WaitForCount<TransferFailed>(rig, e => e.MigrationId == id && e.StorageId == rig.Destination.Id, 2);
        Assert.Single(rig.Log.All<DestinationPrepared>(e => e.MigrationId == id));
        Assert.Empty(await rig.Settled<MigrationCompleted>(id));

        // The saga rolls back, then retries: attempt 2 resumes from the blocks the destination already holds.
        await rig.Abort(id, rig.Source.Id);
        await rig.Abort(id, rig.Destination.Id);
        await rig.Log.WaitFor<TransferAborted>(e => e.MigrationId == id && e.StorageId == rig.Destination.Id, MigrationRig.Timeout);
        await rig.Log.WaitFor<TransferAborted>(e => e.MigrationId == id && e.StorageId == rig.Source.Id, MigrationRig.Timeout);
        Assert.Empty(rig.Destination.Migrations.Interrupted);

        await rig.Prepare(id, Fast, attempt: 2);
        var again = await rig.Log.WaitFor<DestinationPrepared>(e => e.MigrationId == id && e.Attempt == 2, MigrationRig.Timeout);
        await rig.StartTransfer(id, again, Fast, attempt: 2);
        await rig.Log.WaitFor<DirtyBelowThreshold>(e => e.MigrationId == id && e.Attempt == 2, MigrationRig.Timeout);
        await rig.FinalSync(id, attempt: 2);
        var completed = await rig.Log.WaitFor<MigrationCompleted>(e => e.MigrationId == id, MigrationRig.Timeout);
        Assert.True(completed.Verified);
        Assert.Equal(2, completed.Attempt);
        Assert.True(BusMigrationTests.FilesEqual(rig.SourceVolume, rig.DestinationVolume));
        Assert.True(rig.Destination.Volumes.Contains("lamp"));
    }

    [Fact]
    public async Task A_restarted_source_reports_failure_refuses_the_cut_over_and_the_destination_never_completes()
    {
        await using var rig = await MigrationRig.Start();
        var id = Guid.NewGuid();
        await rig.Prepare(id, Slow);
        var prepared = await rig.Log.WaitFor<DestinationPrepared>(e => e.MigrationId == id, MigrationRig.Timeout);
        await rig.StartTransfer(id, prepared, Slow);
        await rig.Log.WaitFor<IndexStreamed>(e => e.MigrationId == id, MigrationRig.Timeout);

        await rig.RestartSource();

        var failed = await rig.Log.WaitFor<TransferFailed>(e => e.MigrationId == id && e.StorageId == rig.Source.Id, MigrationRig.Timeout);
        Assert.Contains($"storage worker '{rig.Source.Id}' restarted while sending volume 'lamp'", failed.Reason);
        Assert.Contains("cannot finish", failed.Reason);
        Assert.True(rig.Source.Volumes.Contains("lamp"), "the source keeps serving its volume after the restart");

        // The saga did not see the failure in time and asks for the cut-over: refused, naming the restart.
        await rig.FinalSync(id);
        var cutOver = await rig.Log.WaitFor<TransferFailed>(e => e.MigrationId == id && e.StorageId == rig.Source.Id && e.Phase == "CutOver",
            MigrationRig.Timeout);
        Assert.Contains("restarted", cutOver.Reason);
        // A repeated StartTransfer of the same attempt does not quietly start over either.
        await rig.StartTransfer(id, prepared, Slow);
        await WaitForCount<TransferFailed>(rig, e => e.MigrationId == id && e.StorageId == rig.Source.Id, 3);
        Assert.Equal(0, rig.Source.Migrations.Count);

        // (A DirtyBelowThreshold from before the restart may have arrived on a slow machine: it is not a success.)
        Assert.Empty(await rig.Settled<MigrationCompleted>(id));
        Assert.False(rig.Destination.Volumes.Contains("lamp"));

        await rig.Abort(id, rig.Source.Id);
        await rig.Log.WaitFor<TransferAborted>(e => e.MigrationId == id && e.StorageId == rig.Source.Id, MigrationRig.Timeout);
        Assert.Empty(rig.Source.Migrations.Interrupted);
        Assert.Empty(Directory.GetFiles(Path.Combine(rig.Source.Options.EffectiveStateDirectory, "migrations")));
    }

    [Fact]
    public async Task A_destination_restarted_after_completion_reports_nothing_and_still_unexports_the_volume_on_rollback()
    {
        await using var rig = await MigrationRig.Start();
        var id = Guid.NewGuid();
        await rig.Prepare(id, Fast);
        var prepared = await rig.Log.WaitFor<DestinationPrepared>(e => e.MigrationId == id, MigrationRig.Timeout);
        await rig.StartTransfer(id, prepared, Fast);
        await rig.Log.WaitFor<DirtyBelowThreshold>(e => e.MigrationId == id, MigrationRig.Timeout);
        await rig.FinalSync(id);
        Assert.True((await rig.Log.WaitFor<MigrationCompleted>(e => e.MigrationId == id, MigrationRig.Timeout)).Verified);

        await rig.RestartDestination();

        Assert.True(rig.Destination.Volumes.Contains("lamp"), "a completed volume is served after the restart");
        Assert.Empty(rig.Destination.Migrations.Interrupted);
        Assert.Empty(await rig.Settled<TransferFailed>(id));

        // The saga rolls back (the VM could not resume on the destination): the source stays authoritative.
        await rig.Abort(id, rig.Destination.Id);
        await rig.Log.WaitFor<TransferAborted>(e => e.MigrationId == id && e.StorageId == rig.Destination.Id, MigrationRig.Timeout);
        Assert.False(rig.Destination.Volumes.Contains("lamp"));
        Assert.True(File.Exists(rig.DestinationVolume + ".incoming"));
        Assert.Empty(Directory.GetFiles(Path.Combine(rig.Destination.Options.EffectiveStateDirectory, "migrations")));
    }

    [Fact]
    public async Task An_unknown_migration_is_reported_as_such()
    {
        await using var rig = await MigrationRig.Start();
        var id = Guid.NewGuid();

        await rig.FinalSync(id);

        var failed = await rig.Log.WaitFor<TransferFailed>(e => e.MigrationId == id, MigrationRig.Timeout);
        Assert.Contains("unknown migration", failed.Reason);
        Assert.DoesNotContain("restarted", failed.Reason);
    }

    private static async Task WaitForCount<T>(MigrationRig rig, Func<T, bool> match, int count)
    {
        var until = DateTime.UtcNow + MigrationRig.Timeout;
        while (rig.Log.All(match).Count < count)
        {
            Assert.True(DateTime.UtcNow < until, $"fewer than {count} {typeof(T).Name} arrived");
            await Task.Delay(50);
        }
    }
}
