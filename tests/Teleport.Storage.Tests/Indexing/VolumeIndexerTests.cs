using Teleport.Blocks;
using Teleport.Contracts;
using Teleport.Nbd.Client;
using Teleport.Storage.Tests.Worker;

namespace Teleport.Storage.Tests.Indexing;

/// <summary>The worker's index follows writes made through NBD, block by block, and loses deleted volumes.</summary>
public sealed class VolumeIndexerTests : IDisposable
{
    private const int BlockSize = 4096;
    private const int Blocks = 256;
    private readonly string _root = Directory.CreateTempSubdirectory("teleport-indexer-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public async Task Blocks_written_through_NBD_are_rehashed_and_found_and_their_old_content_is_no_longer_a_hit()
    {
        string volumes = Directory.CreateDirectory(Path.Combine(_root, "volumes")).FullName;
        string indexDir = Path.Combine(_root, "index");
        string path = Path.Combine(volumes, "vol.img");
        byte[] original = new byte[Blocks * BlockSize];
        new Random(7).NextBytes(original);
        File.WriteAllBytes(path, original);
        byte[] newFive = Block(105);
        byte[] newTwoHundred = Block(300);

        await using (var worker = await WorkerHost.Start("idx", volumes, indexDir, configure: o =>
        {
            o.Bus = "memory";
            o.IndexDebounce = TimeSpan.FromMilliseconds(50);
        }))
        {
            var node = worker.Node;
            var index = node.Index!;
            await Until(() => node.Indexer!.Passes >= 1); // the served volume was indexed at start
            Assert.True(Found(index, original.AsSpan(5 * BlockSize, BlockSize)));
            Assert.True(Found(index, original.AsSpan(7 * BlockSize, BlockSize)));

            await using (var client = await NbdClient.ConnectAsync(worker.NbdEndPoint, "vol"))
            {
                await client.WriteAsync(5 * BlockSize, newFive);
                await client.WriteAsync(200 * BlockSize, newTwoHundred);
                await client.TrimAsync(7 * BlockSize, BlockSize);
                await client.FlushAsync();
            }

            // The trim may land in a later pass than the writes (each pass waits out the debounce after its wake-up).
            await Until(() => Found(index, newFive) && Found(index, newTwoHundred) && node.Indexer!.BlocksRefreshed >= 3);
            Assert.False(Found(index, original.AsSpan(5 * BlockSize, BlockSize)), "the overwritten content must not be a verified hit");
            Assert.False(Found(index, original.AsSpan(7 * BlockSize, BlockSize)), "the trimmed content must not be a verified hit");
            Assert.True(Found(index, original.AsSpan(6 * BlockSize, BlockSize)));
            // Only the three changed blocks were read again, not the volume.
            Assert.Equal(3, node.Indexer!.BlocksRefreshed);
        }

        // Saved at stop: a reopened index has the new content and no entry of the old.
        using (var reopened = BlockIndex.Open(indexDir, BlockSize))
        {
            Assert.True(Found(reopened, newFive));
            Assert.False(Found(reopened, original.AsSpan(5 * BlockSize, BlockSize)));
            Assert.Equal(0, reopened.Update([path]).ImagesScanned); // its identity was taken at save: no full re-read
        }

        // Deleting the volume over the bus drops it from the index.
        await using (var worker = await WorkerHost.Start("idx", volumes, indexDir, configure: o => o.Bus = "memory"))
        {
            var index = worker.Node.Index!;
            await Until(() => worker.Node.Indexer!.Passes >= 1);
            Assert.True(Found(index, newTwoHundred));
            await worker.Node.VolumeOperations.DeleteAsync(new DeleteVolume(Guid.NewGuid(), "idx", "vol"));
            Assert.False(File.Exists(path));
            Assert.Empty(index.Images);
            Assert.False(Found(index, newTwoHundred));
        }

        using var afterDelete = BlockIndex.Open(indexDir, BlockSize);
        Assert.Empty(afterDelete.Images);
        Assert.Equal(0, afterDelete.Stats.UniqueBlocks);
    }

    private static byte[] Block(int seed)
    {
        byte[] block = new byte[BlockSize];
        new Random(seed).NextBytes(block);
        return block;
    }

    private static bool Found(BlockIndex index, ReadOnlySpan<byte> content) =>
        index.TryReadVerified(Fingerprint.Compute(content), new byte[BlockSize]);

    private static async Task Until(Func<bool> condition)
    {
        var until = DateTime.UtcNow.AddSeconds(20);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < until, "the index did not catch up within 20 s");
            await Task.Delay(20);
        }
    }
}
