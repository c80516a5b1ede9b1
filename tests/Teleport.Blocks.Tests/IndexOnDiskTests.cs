namespace Teleport.Blocks.Tests;

/// <summary>The index's table lives on disk: a small summary in memory, a crash-safe file, no leftovers.</summary>
public class IndexOnDiskTests : IDisposable
{
    private const int BlockSize = 512;
    private readonly TempDirectory _dir = new();

    private string IndexDir => _dir.File("index");

    public void Dispose() => _dir.Dispose();

    // An image of `blocks` distinct 512-byte blocks (each starts with its number).
    private string DistinctImage(string name, int blocks, int salt)
    {
        byte[] bytes = new byte[blocks * BlockSize];
        for (int i = 0; i < blocks; i++)
        {
            BitConverter.TryWriteBytes(bytes.AsSpan(i * BlockSize), i);
            BitConverter.TryWriteBytes(bytes.AsSpan(i * BlockSize + 4), salt);
        }
        string path = _dir.File(name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    // Indexes an image of `blocks` distinct blocks (salt 1) and saves the index.
    private void SaveIndexOf(int blocks)
    {
        string image = DistinctImage("a.img", blocks, salt: 1);
        using var index = BlockIndex.Open(IndexDir, BlockSize);
        index.Update([image]);
        index.Save();
    }

    private static Fingerprint BlockOf(int i, int salt)
    {
        byte[] block = new byte[BlockSize];
        BitConverter.TryWriteBytes(block, i);
        BitConverter.TryWriteBytes(block.AsSpan(4), salt);
        return Fingerprint.Compute(block);
    }

    [Fact]
    public void Holds_under_4_bytes_of_memory_per_entry_and_finds_every_block()
    {
        string image = DistinctImage("a.img", 100_000, salt: 1);
        using var index = BlockIndex.Open(IndexDir, BlockSize);
        index.Update([image]);
        index.Save();

        using var reopened = BlockIndex.Open(IndexDir, BlockSize);
        var stats = reopened.Stats;
        Assert.Equal(100_000, stats.UniqueBlocks);
        Assert.True(stats.MemoryBytesPerBlock <= 4, $"{stats.MemoryBytesPerBlock:F2} bytes per entry");
        Assert.True(stats.MemoryBytes > 0);
        byte[] block = new byte[BlockSize];
        for (int i = 0; i < 100_000; i += 997)
        {
            Assert.True(reopened.TryReadVerified(BlockOf(i, salt: 1), block), $"block {i}");
            Assert.True(reopened.MayContain(FingerprintPrefix.Of(BlockOf(i, salt: 1))));
            Assert.False(reopened.MayContain(FingerprintPrefix.Of(BlockOf(i, salt: 2))));
        }
    }

    [Fact]
    public void Every_entry_of_a_table_larger_than_a_write_chunk_is_found_through_the_mapping()
    {
        // 100,000 entries are 2.4 MB: the working table is written in 2 MiB chunks, so entries lie on both sides of a
        // chunk's end and one straddles it. Every one must come back, in batches, with its own block.
        SaveIndexOf(100_000);

        using var reopened = BlockIndex.Open(IndexDir, BlockSize);
        const int Batch = 4096;
        byte[] blocks = new byte[Batch * BlockSize];
        bool[] hits = new bool[Batch];
        var found = new Fingerprint[Batch];
        for (int from = 0; from < 100_000; from += Batch)
        {
            int n = Math.Min(Batch, 100_000 - from);
            var prefixes = Enumerable.Range(from, n).Select(i => FingerprintPrefix.Of(BlockOf(i, salt: 1))).ToArray();
            Assert.Equal(n, reopened.ReadVerified(prefixes, blocks.AsSpan(0, n * BlockSize), hits, found));
            for (int k = 0; k < n; k++)
                Assert.Equal(BlockOf(from + k, salt: 1), found[k]);
        }
        Assert.Equal(100_000, reopened.BatchResolved);
    }

    [Fact]
    public void A_save_that_fails_part_way_leaves_the_previous_index_whole()
    {
        string first = DistinctImage("first.img", 70_000, salt: 1);   // more than one 64 Ki-entry chunk
        string second = DistinctImage("second.img", 70_000, salt: 2);
        using (var index = BlockIndex.Open(IndexDir, BlockSize))
        {
            index.Update([first]);
            index.Save();
        }
        string file = IndexFile.PathFor(Path.GetFullPath(IndexDir), BlockSize);
        byte[] saved = File.ReadAllBytes(file);

        using (var index = BlockIndex.Open(IndexDir, BlockSize))
        {
            index.Update([first, second]);
            long faultAt = 0;
            index.SaveFault = written =>
            {
                faultAt = written;
                throw new IOException("injected: the disk went away");
            };
            Assert.Throws<IOException>(index.Save);
            Assert.InRange(faultAt, 1, 2 * 70_000 * 24 - 1); // it failed mid-way through the entries
        }

        Assert.Equal(saved, File.ReadAllBytes(file));
        Assert.Equal([Path.GetFileName(file)], Directory.GetFiles(IndexDir).Select(Path.GetFileName));
        using var reopened = BlockIndex.Open(IndexDir, BlockSize);
        Assert.Equal(70_000, reopened.Stats.UniqueBlocks);
        byte[] block = new byte[BlockSize];
        Assert.True(reopened.TryReadVerified(BlockOf(5, salt: 1), block));
        Assert.False(reopened.TryReadVerified(BlockOf(5, salt: 2), block));
    }

    [Fact]
    public void A_temporary_file_left_by_a_crash_is_ignored_and_the_saved_index_opens()
    {
        SaveIndexOf(1000);
        string file = IndexFile.PathFor(Path.GetFullPath(IndexDir), BlockSize);
        // What a crash before the rename leaves: a torn new file beside the intact old one.
        File.WriteAllBytes($"{file}.123.{Guid.NewGuid():N}.tmp", File.ReadAllBytes(file).AsSpan(0, 5000).ToArray());

        using var reopened = BlockIndex.Open(IndexDir, BlockSize);
        Assert.Equal(1000, reopened.Stats.UniqueBlocks);
    }

    [Fact]
    public void Working_files_never_show_in_the_directory()
    {
        string a = DistinctImage("a.img", 5000, salt: 1);
        string b = DistinctImage("b.img", 5000, salt: 2);
        using var index = BlockIndex.Open(IndexDir, BlockSize);
        index.Update([a]);
        index.Update([a, b]);
        index.Remove(a);
        Assert.Empty(Directory.GetFiles(IndexDir));
        index.Save();
        Assert.Single(Directory.GetFiles(IndexDir));
        byte[] block = new byte[BlockSize];
        Assert.True(index.TryReadVerified(BlockOf(7, salt: 2), block));
        Assert.False(index.TryReadVerified(BlockOf(7, salt: 1), block));
    }
}
