using System.Security.Cryptography;
using Teleport.Contracts;
using Teleport.Storage.Tests.Worker;
using Xunit.Abstractions;

namespace Teleport.Storage.Tests.Retention;

/// <summary>
/// A volume moved A → B, then 5% of its blocks written on B, then moved B → A: A rebuilds the unchanged blocks from the
/// retained copy its first move left, so the way back carries at most a tenth of the first move's bytes. Two storage
/// workers with indexes on the real broker; the test plays the saga, including its ReleaseSourceVolume.
/// </summary>
public sealed class MoveBackTests(ITestOutputHelper output) : IDisposable
{
    private const int BlockSize = 4096;
    private const long VolumeBytes = 16L << 20;
    private const string Volume = "boat";

    private readonly string _root = Directory.CreateTempSubdirectory("teleport-move-back-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public async Task A_move_back_sends_only_what_changed_and_ends_byte_for_byte_equal()
    {
        string aVolumes = Directory.CreateDirectory(Path.Combine(_root, "a")).FullName;
        string bVolumes = Directory.CreateDirectory(Path.Combine(_root, "b")).FullName;
        File.WriteAllBytes(Path.Combine(aVolumes, Volume + ".img"), RandomNumberGenerator.GetBytes((int)VolumeBytes));
        File.WriteAllBytes(Path.Combine(aVolumes, "keep.img"), new byte[BlockSize]);
        string run = Guid.NewGuid().ToString("N")[..8];
        await using var saga = await SagaStandIn.Start();
        await using var a = await WorkerHost.Start($"a-{run}", aVolumes, Path.Combine(_root, "a-index"));
        await using var b = await WorkerHost.Start($"b-{run}", bVolumes, Path.Combine(_root, "b-index"));

        var there = await Move(saga, a, b);
        // A release naming a migration A never sent is ignored; commands are taken in order, so it is handled first.
        await saga.Send(a.Id, new ReleaseSourceVolume(Guid.NewGuid(), "keep", a.Id));
        await saga.Send(a.Id, new ReleaseSourceVolume(there.MigrationId, Volume, a.Id));
        var copy = await WaitFor(() => a.Node.Retention.List().SingleOrDefault(), "the retained copy on A");
        await a.Node.Retention.Indexed;
        Assert.Equal((there.MigrationId, Volume), (copy.MigrationId, copy.VolumeId));
        Assert.True(a.Volumes.Contains("keep"), "a release of an unknown migration leaves the volume alone");
        Assert.False(a.Volumes.Contains(Volume));

        int written = WriteRandomBlocks(Path.Combine(bVolumes, Volume + ".img"), percent: 5);
        var back = await Move(saga, b, a);

        output.WriteLine($"A -> B: {there.BytesOnWire} bytes on the wire, {there.BlocksSent} blocks sent, {there.BlocksFromIndex} from the index");
        output.WriteLine($"B -> A after {written} blocks written: {back.BytesOnWire} bytes on the wire, {back.BlocksSent} blocks sent, " +
                         $"{back.BlocksFromIndex} from A's index ({100.0 * back.BytesOnWire / there.BytesOnWire:F1}% of the first move)");
        Assert.True(back.Verified);
        Assert.True(back.BytesOnWire <= there.BytesOnWire / 10, $"the move back sent {back.BytesOnWire} bytes, the first {there.BytesOnWire}");
        Assert.True(BusMigrationTests.FilesEqual(Path.Combine(aVolumes, Volume + ".img"), Path.Combine(bVolumes, Volume + ".img")), "A's volume differs from B's");
    }

    // The saga's storage steps of one move, with no writer: prepare, transfer, final sync.
    private static async Task<MigrationCompleted> Move(SagaStandIn saga, WorkerHost from, WorkerHost to)
    {
        var id = Guid.NewGuid();
        var options = new MigrationOptions(BlockSize: BlockSize);
        await saga.Send(to.Id, new PrepareDestination(id, Volume, from.Id, to.Id, options));
        var prepared = await saga.Log.WaitFor<DestinationPrepared>(e => e.MigrationId == id, MigrationRig.Timeout);
        await saga.Send(from.Id, new StartTransfer(id, Volume, from.Id, to.Id, prepared.DataEndpoint, prepared.Secret, prepared.CertificateSha256, options));
        await saga.Log.WaitFor<DirtyBelowThreshold>(e => e.MigrationId == id, MigrationRig.Timeout);
        await saga.Send(from.Id, new FinalSync(id, Volume, from.Id));
        var completed = await saga.Log.WaitFor<MigrationCompleted>(e => e.MigrationId == id, MigrationRig.Timeout);
        Assert.Empty(saga.Log.All<TransferFailed>(e => e.MigrationId == id));
        return completed;
    }

    // Overwrites percent% of the volume's blocks, chosen at random, with random data (nothing else writes the file now).
    private static int WriteRandomBlocks(string path, int percent)
    {
        int blocks = (int)(VolumeBytes / BlockSize);
        int[] chosen = Enumerable.Range(0, blocks).OrderBy(_ => Random.Shared.Next()).Take(blocks * percent / 100).ToArray();
        using var file = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
        byte[] block = new byte[BlockSize];
        foreach (int b in chosen)
        {
            RandomNumberGenerator.Fill(block);
            file.Position = (long)b * BlockSize;
            file.Write(block);
        }

        file.Flush(flushToDisk: true);
        return chosen.Length;
    }

    private static async Task<T> WaitFor<T>(Func<T?> probe, string what)
        where T : class
    {
        var until = DateTime.UtcNow + MigrationRig.Timeout;
        while (true)
        {
            if (probe() is { } found)
                return found;
            if (DateTime.UtcNow > until)
                throw new TimeoutException($"no {what} within {MigrationRig.Timeout.TotalSeconds} s");
            await Task.Delay(50);
        }
    }
}
