namespace Teleport.Blocks.Tests;

public class BlockIndexTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    private string IndexDir => _dir.File("index");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Finds_indexed_blocks_and_misses_unknown_ones()
    {
        string image = TestImages.Write(_dir.File("a.img"), [1, 2, null, 3, 2]);
        using var index = BlockIndex.Open(IndexDir);
        var report = index.Update([image]);

        Assert.Equal(1, report.ImagesScanned);
        Assert.Equal(5, report.BlocksScanned);
        Assert.Equal(1, report.ZeroBlocks);
        Assert.Equal(3, report.EntriesAdded); // block 4 repeats block 1's content
        Assert.Equal(5 * 4096, report.BytesRead);
        Assert.Equal([Path.GetFullPath(image)], report.ScannedPaths);

        byte[] block = new byte[4096];
        foreach (int seed in new[] { 1, 2, 3 })
        {
            Assert.True(index.TryReadVerified(TestImages.FingerprintOf(seed), block));
            Assert.Equal(TestImages.Block(seed), block);
        }
        block.AsSpan().Fill(0xAA);
        Assert.False(index.TryReadVerified(TestImages.FingerprintOf(99), block));
        Assert.True(ZeroBlocks.IsZero(block));

        var stats = index.Stats;
        Assert.Equal(1, stats.Images);
        Assert.Equal(5, stats.Blocks);
        Assert.Equal(1, stats.ZeroBlocks);
        Assert.Equal(4, stats.NonZeroBlocks);
        Assert.Equal(3, stats.UniqueBlocks);
        Assert.Equal(3, stats.LookupHits);
        Assert.Equal(1, stats.LookupMisses);
        Assert.Equal(0, stats.IndexBytes); // not saved yet
    }

    [Fact]
    public void A_block_changed_after_indexing_is_a_miss_not_wrong_data()
    {
        string image = TestImages.Write(_dir.File("a.img"), [1, 2, 3]);
        using var index = BlockIndex.Open(IndexDir);
        index.Update([image]);
        TestImages.Overwrite(image, 1, TestImages.Block(50));

        byte[] block = new byte[4096];
        Assert.False(index.TryReadVerified(TestImages.FingerprintOf(2), block));
        Assert.True(ZeroBlocks.IsZero(block));
        Assert.Equal(1, index.Stats.StaleCandidates);
        Assert.True(index.TryReadVerified(TestImages.FingerprintOf(3), block));
    }

    [Fact]
    public void A_colliding_key_is_a_miss()
    {
        string image = TestImages.Write(_dir.File("a.img"), [1]);
        using var index = BlockIndex.Open(IndexDir, BlockSizes.Default, _ => new IndexKey(7, 7));
        index.Update([image]);

        byte[] block = new byte[4096];
        Assert.False(index.TryReadVerified(TestImages.FingerprintOf(2), block)); // same key, other content
        Assert.True(ZeroBlocks.IsZero(block));
        Assert.Equal(1, index.Stats.StaleCandidates);
        Assert.True(index.TryReadVerified(TestImages.FingerprintOf(1), block));
        Assert.Equal(TestImages.Block(1), block);
    }

    [Fact]
    public void Every_entry_sharing_a_key_is_tried()
    {
        string received = TestImages.Write(_dir.File("received.img"), [null, 1]);
        string local = TestImages.Write(_dir.File("local.img"), [2]);
        using var index = BlockIndex.Open(IndexDir, BlockSizes.Default, _ => new IndexKey(7, 7));
        index.Add(TestImages.FingerprintOf(1), received, 1); // unsaved addition
        index.Update([local]);                                // the same key again, in the main table

        byte[] block = new byte[4096];
        Assert.True(index.TryReadVerified(TestImages.FingerprintOf(1), block));
        Assert.Equal(TestImages.Block(1), block);
        Assert.True(index.TryReadVerified(TestImages.FingerprintOf(2), block));
        Assert.Equal(TestImages.Block(2), block);
        Assert.False(index.TryReadVerified(TestImages.FingerprintOf(3), block));
        Assert.Equal(2, index.Stats.UniqueBlocks);
    }

    [Fact]
    public void Saves_and_reopens_without_reading_unchanged_images()
    {
        string a = TestImages.Write(_dir.File("a.img"), [1, 2, null]);
        string b = TestImages.Write(_dir.File("b.img"), [3, 4]);
        using (var index = BlockIndex.Open(IndexDir))
        {
            index.Update([a, b]);
            index.Save();
            Assert.Equal(new FileInfo(index.FilePath).Length, index.Stats.IndexBytes);
        }
        using (var reopened = BlockIndex.Open(IndexDir))
        {
            var stats = reopened.Stats;
            Assert.Equal(2, stats.Images);
            Assert.Equal(4, stats.UniqueBlocks);
            Assert.Equal(1, stats.ZeroBlocks);
            byte[] block = new byte[4096];
            Assert.True(reopened.TryReadVerified(TestImages.FingerprintOf(4), block));
            Assert.Equal(TestImages.Block(4), block);

            var report = reopened.Update([a, b]);
            Assert.Equal(0, report.ImagesScanned);
            Assert.Equal(2, report.ImagesSkipped);
            Assert.Equal(0, report.BytesRead);
            Assert.Equal(["a.img", "b.img"], reopened.Images.Select(i => Path.GetFileName(i.Path)).Order());
        }
        Assert.Empty(Directory.GetFiles(IndexDir, "*.tmp"));
    }

    [Fact]
    public void Re_reads_only_changed_images_and_drops_deleted_ones()
    {
        string a = TestImages.Write(_dir.File("a.img"), [1, 2]);
        string b = TestImages.Write(_dir.File("b.img"), [3, 4, 5]);
        using var index = BlockIndex.Open(IndexDir);
        index.Update([a, b]);

        TestImages.Overwrite(b, 2, TestImages.Block(6));
        var changed = index.Update([a, b]);
        Assert.Equal(1, changed.ImagesScanned);
        Assert.Equal(1, changed.ImagesSkipped);
        Assert.Equal(3 * 4096, changed.BytesRead);
        Assert.Equal([Path.GetFullPath(b)], changed.ScannedPaths);
        Assert.Equal(3, changed.EntriesRemoved);
        Assert.Equal(3, changed.EntriesAdded);

        byte[] block = new byte[4096];
        Assert.True(index.TryReadVerified(TestImages.FingerprintOf(6), block));
        Assert.False(index.TryReadVerified(TestImages.FingerprintOf(5), block));
        Assert.Equal(0, index.Stats.StaleCandidates); // the old entry is gone, not merely stale

        File.Delete(a);
        var deleted = index.Update([]); // known images are checked even when not listed
        Assert.Equal(1, deleted.ImagesRemoved);
        Assert.Equal(0, deleted.ImagesScanned);
        Assert.Equal(2, deleted.EntriesRemoved);
        Assert.False(index.TryReadVerified(TestImages.FingerprintOf(1), block));
        Assert.Equal(1, index.Stats.Images);
        Assert.Equal(3, index.Stats.UniqueBlocks);
    }

    [Fact]
    public void Content_shared_with_a_deleted_image_stays_findable()
    {
        string a = TestImages.Write(_dir.File("a.img"), [1, 2, 3]);
        string b = TestImages.Write(_dir.File("b.img"), [3, 2, 1, 4]);
        using var index = BlockIndex.Open(IndexDir);
        index.Update([a]);
        index.Update([b]);
        Assert.Equal(4, index.Stats.UniqueBlocks); // b's copies of 1, 2, 3 are not stored twice
        Assert.Equal(3, index.Images.Single(i => i.Path == Path.GetFullPath(b)).SharedBlocks);

        File.Delete(a);
        var report = index.Update([]);
        Assert.Equal(1, report.ImagesRemoved);
        Assert.Equal(1, report.ImagesScanned); // b re-read to restore the coverage a held
        byte[] block = new byte[4096];
        foreach (int seed in new[] { 1, 2, 3, 4 })
        {
            Assert.True(index.TryReadVerified(TestImages.FingerprintOf(seed), block), $"seed {seed}");
            Assert.Equal(TestImages.Block(seed), block);
        }
        Assert.Equal(0, index.Images.Single().SharedBlocks);
    }

    [Fact]
    public void A_sparse_image_is_indexed_without_reading_its_hole()
    {
        string image = _dir.File("sparse.img");
        using (var stream = new FileStream(image, FileMode.Create, FileAccess.Write))
            stream.SetLength(512L << 20);
        TestImages.Overwrite(image, 7, TestImages.Block(1));
        TestImages.Overwrite(image, 100_000, TestImages.Block(2));
        using var index = BlockIndex.Open(IndexDir);
        var report = index.Update([image]);

        Assert.Equal(131072, report.BlocksScanned);
        Assert.Equal(131070, report.ZeroBlocks);
        Assert.True(report.BytesRead <= 4 << 20, $"read {report.BytesRead} of {512 << 20} bytes");
        Assert.Equal(2, index.Stats.UniqueBlocks);
        byte[] block = new byte[4096];
        Assert.True(index.TryReadVerified(TestImages.FingerprintOf(2), block));
    }

    [Fact]
    public void A_final_partial_block_is_indexed_zero_padded()
    {
        string image = _dir.File("partial.img");
        File.WriteAllBytes(image, [.. TestImages.Block(1), .. TestImages.Block(2).AsSpan(0, 1000)]);
        using var index = BlockIndex.Open(IndexDir);
        index.Update([image]);

        byte[] padded = new byte[4096];
        TestImages.Block(2).AsSpan(0, 1000).CopyTo(padded);
        byte[] block = new byte[4096];
        Assert.True(index.TryReadVerified(Fingerprint.Compute(padded), block));
        Assert.Equal(padded, block);
        Assert.Equal(2, index.Stats.Blocks);
    }

    [Theory]
    [InlineData(512)]
    [InlineData(65536)]
    public void Works_at_the_extreme_block_sizes(int blockSize)
    {
        string image = TestImages.Write(_dir.File("a.img"), [1, null, 2, 3], blockSize);
        using (var index = BlockIndex.Open(IndexDir, blockSize))
        {
            Assert.Equal(blockSize, index.BlockSize);
            index.Update([image]);
            index.Save();
            Assert.EndsWith($"blocks-{blockSize}.tpidx", index.FilePath);
        }
        using (var reopened = BlockIndex.Open(IndexDir, blockSize))
        {
            byte[] block = new byte[blockSize];
            Assert.True(reopened.TryReadVerified(TestImages.FingerprintOf(3, blockSize), block));
            Assert.Equal(TestImages.Block(3, blockSize), block);
            Assert.Throws<ArgumentException>(() => reopened.TryReadVerified(TestImages.FingerprintOf(3, blockSize), new byte[4096]));
        }
        using var other = BlockIndex.Open(IndexDir); // another block size is another, empty index
        Assert.Equal(0, other.Stats.UniqueBlocks);
    }

    [Fact]
    public void Received_blocks_are_found_and_persisted()
    {
        string volume = _dir.File("volume.img");
        using (var stream = new FileStream(volume, FileMode.Create, FileAccess.Write))
            stream.SetLength(8 * 4096);
        TestImages.Overwrite(volume, 3, TestImages.Block(1));
        TestImages.Overwrite(volume, 5, TestImages.Block(2));
        using (var index = BlockIndex.Open(IndexDir))
        {
            index.Add(TestImages.FingerprintOf(1), volume, 3);
            index.Add(TestImages.FingerprintOf(2), volume, 5);
            index.Add(TestImages.FingerprintOf(2), volume, 5); // received twice: one entry
            byte[] block = new byte[4096];
            Assert.True(index.TryReadVerified(TestImages.FingerprintOf(1), block));
            Assert.Equal(TestImages.Block(1), block);
            Assert.True(index.Images.Single().Live);
            Assert.Equal(2, index.Stats.UniqueBlocks);
            index.Save();
            Assert.False(index.Images.Single().Live);
        }
        using (var reopened = BlockIndex.Open(IndexDir))
        {
            byte[] block = new byte[4096];
            Assert.True(reopened.TryReadVerified(TestImages.FingerprintOf(2), block));
            Assert.Equal(TestImages.Block(2), block);
            var report = reopened.Update([volume]);
            Assert.Equal(0, report.BytesRead); // identity was taken at save
        }
    }

    [Fact]
    public void Add_rejects_a_missing_image_and_a_bad_block_number()
    {
        using var index = BlockIndex.Open(IndexDir);
        Assert.Throws<FileNotFoundException>(() => index.Add(TestImages.FingerprintOf(1), _dir.File("nope"), 0));
        string volume = TestImages.Write(_dir.File("v.img"), [1]);
        Assert.Throws<ArgumentOutOfRangeException>(() => index.Add(TestImages.FingerprintOf(1), volume, -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => index.Add(TestImages.FingerprintOf(1), volume, 1L << 44));
        Assert.Equal(0, index.Stats.UniqueBlocks);
    }

    [Fact]
    public void Update_with_a_missing_image_fails_before_changing_anything()
    {
        string a = TestImages.Write(_dir.File("a.img"), [1]);
        using var index = BlockIndex.Open(IndexDir);
        index.Update([a]);
        var e = Assert.Throws<FileNotFoundException>(() => index.Update([a, _dir.File("missing.img")]));
        Assert.Contains("missing.img", e.Message);
        Assert.Throws<ArgumentException>(() => index.Update([_dir.Path]));
        Assert.Equal(1, index.Stats.UniqueBlocks);
    }

    [Fact]
    public void An_interrupted_update_is_redone_by_the_next_one()
    {
        string a = TestImages.Write(_dir.File("a.img"), [1, 2]);
        using var index = BlockIndex.Open(IndexDir);
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => index.Update([a], cancelled.Token));
        var report = index.Update([a]);
        Assert.Equal(1, report.ImagesScanned);
        Assert.True(index.TryReadVerified(TestImages.FingerprintOf(2), new byte[4096]));
    }

    [Fact]
    public void One_worker_and_many_build_the_same_index()
    {
        var seeds = Enumerable.Range(0, 3000).Select(i => i % 7 == 0 ? (int?)null : i % 1000).ToList();
        string a = TestImages.Write(_dir.File("a.img"), seeds, 512);
        string b = TestImages.Write(_dir.File("b.img"), seeds.AsEnumerable().Reverse().ToList(), 512);
        using var serial = BlockIndex.Open(_dir.File("serial"), 512);
        using var parallel = BlockIndex.Open(_dir.File("parallel"), 512);
        serial.MaxParallelism = 1;
        parallel.MaxParallelism = 4;
        serial.Update([a, b]);
        parallel.Update([a, b]);
        Assert.Equal(serial.Stats.UniqueBlocks, parallel.Stats.UniqueBlocks);
        Assert.Equal(seeds.Where(s => s is not null).Distinct().Count(), parallel.Stats.UniqueBlocks);
        byte[] block = new byte[512];
        for (int seed = 1; seed < 1000; seed++)
            Assert.True(parallel.TryReadVerified(TestImages.FingerprintOf(seed, 512), block), $"seed {seed}");
    }

    [Fact]
    public async Task Lookups_keep_working_while_an_update_runs()
    {
        string first = TestImages.Write(_dir.File("a.img"), Enumerable.Range(1, 100).Select(i => (int?)i).ToList());
        string second = TestImages.Write(_dir.File("b.img"), Enumerable.Range(101, 3000).Select(i => (int?)i).ToList());
        using var index = BlockIndex.Open(IndexDir);
        index.Update([first]);
        var update = Task.Run(() => index.Update([first, second]));
        var reader = Task.Run(() =>
        {
            byte[] block = new byte[4096];
            int rounds = 0;
            while (!update.IsCompleted || rounds < 5)
            {
                for (int seed = 1; seed <= 100; seed += 9)
                    Assert.True(index.TryReadVerified(TestImages.FingerprintOf(seed), block), $"seed {seed}");
                rounds++;
            }
        });
        await Task.WhenAll(update, reader);
        Assert.Equal(3100, index.Stats.UniqueBlocks);
        Assert.True(index.TryReadVerified(TestImages.FingerprintOf(3100), new byte[4096]));
    }

    [Fact]
    public async Task Lookups_run_concurrently_with_additions()
    {
        string image = TestImages.Write(_dir.File("a.img"), Enumerable.Range(1, 200).Select(i => (int?)i).ToList());
        using var index = BlockIndex.Open(IndexDir);
        index.Update([image]);
        var readers = Enumerable.Range(0, 2).Select(r => Task.Run(() =>
        {
            byte[] block = new byte[4096];
            for (int i = 0; i < 400; i++)
            {
                int seed = 1 + (i * 7 + r) % 200;
                Assert.True(index.TryReadVerified(TestImages.FingerprintOf(seed), block));
                Assert.Equal(TestImages.Block(seed), block);
            }
        }));
        var writer = Task.Run(() =>
        {
            for (int i = 0; i < 200; i++)
                index.Add(TestImages.FingerprintOf(i + 1), image, i);
        });
        await Task.WhenAll([.. readers, writer]);
        Assert.Equal(200, index.Stats.UniqueBlocks);
    }
}
