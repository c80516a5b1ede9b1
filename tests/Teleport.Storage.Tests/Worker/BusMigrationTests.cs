using System.Net;
using System.Security.Cryptography;
using Teleport.Blocks;
using Teleport.Contracts;
using Teleport.Nbd.Client;
using Xunit.Abstractions;

namespace Teleport.Storage.Tests.Worker;

/// <summary>
/// Two storage workers in this process on the real RabbitMQ; the test plays the saga. A writer keeps writing to the
/// source volume through its NBD export while the migration runs, until just before FinalSync.
/// </summary>
public sealed class BusMigrationTests(ITestOutputHelper output) : IDisposable
{
    private const int BlockSize = 4096;
    private const long VolumeBytes = 16L << 20;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(90);

    private readonly string _root = Directory.CreateTempSubdirectory("teleport-storage-bus-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Theory]
    [InlineData(false)]
    [InlineData(true)] // the destination's index reads its table entries with O_DIRECT (Storage:IndexReadsDirect)
    public async Task Migrates_a_volume_that_is_written_meanwhile_and_ends_byte_for_byte_equal(bool indexReadsDirect)
    {
        var (srcDir, dstDir, indexDir) = Layout();
        string basePath = Path.Combine(_root, "base.img");
        WriteVolumes(Path.Combine(srcDir, "lamp.img"), basePath);
        using (var index = BlockIndex.Open(indexDir, BlockSize))
        {
            index.Update([basePath]);
            index.Save();
        }

        string run = Guid.NewGuid().ToString("N")[..8];
        await using var saga = await SagaStandIn.Start();
        var sourceLogs = new CapturedLogs();
        var destinationLogs = new CapturedLogs();
        await using var source = await WorkerHost.Start($"src-{run}", srcDir, logs: sourceLogs);
        await using var destination = await WorkerHost.Start($"dst-{run}", dstDir, indexDir, logs: destinationLogs,
            configure: o => o.IndexReadsDirect = indexReadsDirect);
        var id = Guid.NewGuid();
        var options = new MigrationOptions(BlockSize: BlockSize);
        const int Attempt = 2; // every event answers with the attempt of its command

        await saga.Send(destination.Id, new PrepareDestination(id, "lamp", source.Id, destination.Id, options, Attempt));
        var prepared = await saga.Log.WaitFor<DestinationPrepared>(e => e.MigrationId == id, Timeout);
        Assert.Equal(destination.Id, prepared.DestinationStorageId);
        Assert.Equal(32, Convert.FromBase64String(prepared.Secret!).Length);
        // The NBD address the host will switch to is where the destination's exports really are (port 0 resolved).
        Assert.Equal($"127.0.0.1:{((IPEndPoint)destination.NbdEndPoint).Port}", prepared.NbdEndpoint);
        Assert.NotEqual(0, ((IPEndPoint)destination.NbdEndPoint).Port);
        Assert.Equal("lamp", prepared.ExportName);
        // TLS is on by default: the pin is the destination certificate's SHA-256.
        Assert.Equal(destination.Node.Certificate!.Sha256Hex, prepared.CertificateSha256);
        Assert.Matches("^[0-9a-f]{64}$", prepared.CertificateSha256!);
        Assert.False(destination.Volumes.Contains("lamp"), "a volume still being received must not be served");

        using var stopWriter = new CancellationTokenSource();
        var writer = WriteUntilStopped(source, stopWriter.Token);
        await saga.Send(source.Id, new StartTransfer(id, "lamp", source.Id, destination.Id, prepared.DataEndpoint, prepared.Secret, prepared.CertificateSha256,
            options, Attempt));

        var converged = await saga.Log.WaitFor<DirtyBelowThreshold>(e => e.MigrationId == id, Timeout);
        await Task.Delay(300); // more writes after convergence: the idle rounds and the final round must carry them
        await stopWriter.CancelAsync();
        long writes = await writer;
        await saga.Send(source.Id, new FinalSync(id, "lamp", source.Id, Attempt));

        var completed = await saga.Log.WaitFor<MigrationCompleted>(e => e.MigrationId == id, Timeout);
        Assert.True(completed.Verified);
        Assert.Equal(VolumeBytes, completed.VolumeBytes);
        Assert.Equal(destination.Id, completed.DestinationStorageId);
        Assert.Empty(saga.Log.All<TransferFailed>(e => e.MigrationId == id));

        var indexed = saga.Log.All<IndexStreamed>(e => e.MigrationId == id);
        var requested = saga.Log.All<BlocksRequested>(e => e.MigrationId == id);
        var rounds = saga.Log.All<CopyRoundCompleted>(e => e.MigrationId == id);
        Assert.Single(indexed);
        Assert.Equal(VolumeBytes / BlockSize, indexed[0].Blocks);
        Assert.True(indexed[0].ZeroBlocks > 0);
        Assert.Single(requested);
        // A quarter of the volume (1024 blocks) is in the base image; the writer may overwrite a few before they are indexed.
        Assert.True(requested[0].BlocksFromIndex >= 768, $"only {requested[0].BlocksFromIndex} blocks came from the destination's index");
        // The base's blocks are looked up in the volume's block order, a run: most are predicted from the previous hit,
        // with no table entry read. With direct reads every entry the batches needed came from the device, none
        // through the mapping.
        var lookups = destination.Node.Index!;
        Assert.True(lookups.PredictedHits > requested[0].BlocksFromIndex / 2, $"only {lookups.PredictedHits} hits predicted");
        Assert.Equal(indexReadsDirect, lookups.EntriesReadDirect + lookups.PredictedHits >= requested[0].BlocksFromIndex);
        Assert.Equal(indexReadsDirect, lookups.EntriesReadDirect > 0);
        Assert.NotEmpty(rounds);
        // Consumed concurrently on the test side, so compare as a set: one event per round, none missing.
        Assert.Equal(Enumerable.Range(1, rounds.Count), rounds.Select(r => r.Round).Order());
        int[] attempts = [prepared.Attempt, converged.Attempt, completed.Attempt, indexed[0].Attempt, requested[0].Attempt, .. rounds.Select(r => r.Attempt)];
        Assert.All(attempts, a => Assert.Equal(Attempt, a));

        Assert.True(writes > 0);
        Assert.True(FilesEqual(Path.Combine(srcDir, "lamp.img"), Path.Combine(dstDir, "lamp.img")), "destination differs from the source");
        Assert.True(destination.Volumes.Contains("lamp"), "the completed volume is served by the destination");
        Assert.False(File.Exists(Path.Combine(dstDir, "lamp.img.incoming")));

        // Every line the migration's own code and sessions wrote carries its MigrationId.
        var migrationLines = sourceLogs.Entries.Concat(destinationLogs.Entries)
            .Where(e => e.Category.StartsWith("Teleport.Storage.Migrations", StringComparison.Ordinal) || e.Category.StartsWith("Teleport.Transfer", StringComparison.Ordinal))
            .ToArray();
        Assert.Contains(migrationLines, e => e.Message.Contains("Final round"));
        Assert.All(migrationLines, e => Assert.Equal(id, e.Scope.GetValueOrDefault("MigrationId")));

        output.WriteLine($"writes during migration: {writes}; converged after {converged.Rounds} rounds with {converged.DirtyBlocks} dirty blocks");
        output.WriteLine($"rounds: {completed.Rounds}; bytes on the wire: {completed.BytesOnWire}; blocks sent: {completed.BlocksSent}; " +
                         $"from index: {requested[0].BlocksFromIndex} ({lookups.EntriesReadDirect} entries read directly, {lookups.PredictedHits} predicted); " +
                         $"requested: {requested[0].BlocksRequestedFromSource}; index bytes: {indexed[0].IndexBytes}");
        foreach (var r in rounds)
            output.WriteLine($"  round {r.Round}: {r.BlocksSent} blocks, {r.BytesOnWire} bytes on the wire, {r.DirtyBlocksRemaining} dirty after");
    }

    private (string Source, string Destination, string Index) Layout()
    {
        string src = Directory.CreateDirectory(Path.Combine(_root, "src")).FullName;
        string dst = Directory.CreateDirectory(Path.Combine(_root, "dst")).FullName;
        string index = Directory.CreateDirectory(Path.Combine(_root, "index")).FullName;
        return (src, dst, index);
    }

    /// <summary>The volume: first quarter shared with a base image the destination indexes, then random data and zeroes.</summary>
    internal static void WriteVolumes(string volumePath, string? basePath)
    {
        byte[] data = new byte[VolumeBytes];
        RandomNumberGenerator.Fill(data.AsSpan(0, (int)(VolumeBytes / 2)));
        File.WriteAllBytes(volumePath, data);
        if (basePath is not null)
        {
            byte[] shared = data.AsSpan(0, (int)(VolumeBytes / 4)).ToArray();
            File.WriteAllBytes(basePath, shared);
        }
    }

    /// <summary>Random 4 KiB writes through the source's NBD export until stopped; returns how many were made.</summary>
    internal static async Task<long> WriteUntilStopped(WorkerHost source, CancellationToken stop)
    {
        await using var client = await NbdClient.ConnectAsync(source.NbdEndPoint, "lamp");
        byte[] block = new byte[BlockSize];
        long writes = 0;
        while (!stop.IsCancellationRequested)
        {
            RandomNumberGenerator.Fill(block);
            long offset = Random.Shared.NextInt64(VolumeBytes / BlockSize) * BlockSize;
            await client.WriteAsync(offset, block);
            writes++;
            if (writes % 16 == 0)
                await Task.Delay(5, CancellationToken.None);
        }

        await client.FlushAsync();
        await client.DisconnectAsync();
        return writes;
    }

    internal static bool FilesEqual(string a, string b)
    {
        byte[] x = File.ReadAllBytes(a);
        byte[] y = File.ReadAllBytes(b);
        return x.AsSpan().SequenceEqual(y);
    }
}
