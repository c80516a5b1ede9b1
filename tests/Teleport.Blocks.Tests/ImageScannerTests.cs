namespace Teleport.Blocks.Tests;

public class ImageScannerTests
{
    [Fact]
    public void Reports_each_block_with_its_fingerprint_and_zero_flag()
    {
        using var dir = new TempDirectory();
        string path = TestImages.Write(dir.File("img"), [1, null, 2, 2, null]);
        using var scanner = ImageScanner.Open(path);
        var blocks = scanner.Blocks().ToList();
        Assert.Equal(5, scanner.BlockCount);
        Assert.Equal([0L, 1, 2, 3, 4], blocks.Select(b => b.Number));
        Assert.Equal([false, true, false, false, true], blocks.Select(b => b.IsZero));
        Assert.Equal(TestImages.FingerprintOf(1), blocks[0].Fingerprint);
        Assert.Equal(ZeroFingerprints.For(4096), blocks[1].Fingerprint);
        Assert.Equal(TestImages.FingerprintOf(2), blocks[2].Fingerprint);
        Assert.Equal(blocks[2].Fingerprint, blocks[3].Fingerprint);
        Assert.Equal(5 * 4096, scanner.BytesRead);
    }

    [Fact]
    public void A_sub_range_yields_only_its_blocks()
    {
        using var dir = new TempDirectory();
        string path = TestImages.Write(dir.File("img"), [1, 2, 3, 4, 5, 6]);
        using var scanner = ImageScanner.Open(path);
        var blocks = scanner.Blocks(2, 3).ToList();
        Assert.Equal([2L, 3, 4], blocks.Select(b => b.Number));
        Assert.Equal(TestImages.FingerprintOf(4), blocks[1].Fingerprint);
        Assert.Empty(scanner.Blocks(6, 0).ToList());
        Assert.Throws<ArgumentOutOfRangeException>(() => scanner.Blocks(5, 2));
    }

    [Fact]
    public void Pads_a_final_partial_block_with_zeros()
    {
        using var dir = new TempDirectory();
        string path = dir.File("img");
        File.WriteAllBytes(path, [.. TestImages.Block(8), .. TestImages.Block(9).AsSpan(0, 100)]);
        using var scanner = ImageScanner.Open(path);
        Assert.Equal(2, scanner.BlockCount);
        byte[] padded = new byte[4096];
        TestImages.Block(9).AsSpan(0, 100).CopyTo(padded);
        var last = scanner.Blocks().ToList()[1];
        Assert.False(last.IsZero);
        Assert.Equal(Fingerprint.Compute(padded), last.Fingerprint);
    }

    [Fact]
    public void Skips_holes_without_reading_them()
    {
        using var dir = new TempDirectory();
        string path = dir.File("sparse");
        const long size = 256L << 20;
        using (var stream = new FileStream(path, FileMode.Create, FileAccess.Write))
            stream.SetLength(size);
        TestImages.Overwrite(path, 1000, TestImages.Block(5));
        TestImages.Overwrite(path, 65535, TestImages.Block(6));
        using var scanner = ImageScanner.Open(path);
        long zero = 0;
        var nonZero = new List<ScannedBlock>();
        foreach (var block in scanner.Blocks())
        {
            if (block.IsZero)
                zero++;
            else
                nonZero.Add(block);
        }
        Assert.Equal(65536, scanner.BlockCount);
        Assert.Equal(65534, zero);
        Assert.Equal([1000L, 65535], nonZero.Select(b => b.Number));
        Assert.Equal(TestImages.FingerprintOf(6), nonZero[1].Fingerprint);
        Assert.True(scanner.BytesRead <= 1 << 20, $"read {scanner.BytesRead} bytes of a {size}-byte file that is almost all hole");
    }

    [Theory]
    [InlineData(512)]
    [InlineData(4096)]
    [InlineData(65536)]
    public void Data_extents_that_do_not_align_with_blocks_are_read_whole(int blockSize)
    {
        using var dir = new TempDirectory();
        string path = dir.File("sparse");
        using (var stream = new FileStream(path, FileMode.Create, FileAccess.Write))
            stream.SetLength(16L << 20);
        // 4 KiB of data starting 8 KiB into a 64 KiB block, and 4 KiB ending the file.
        long[] offsets = [(1L << 20) + 8192, (16L << 20) - 4096];
        byte[] data = TestImages.Block(1);
        var expected = new SortedDictionary<long, byte[]>();
        using (var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Write))
        {
            foreach (long offset in offsets)
            {
                RandomAccess.Write(handle, data, offset);
                for (long o = offset; o < offset + data.Length; o += Math.Min(blockSize, data.Length))
                {
                    long block = o / blockSize;
                    byte[] content = expected.TryGetValue(block, out byte[]? existing) ? existing : new byte[blockSize];
                    long start = Math.Max(offset, block * blockSize);
                    long end = Math.Min(offset + data.Length, (block + 1) * blockSize);
                    data.AsSpan((int)(start - offset), (int)(end - start)).CopyTo(content.AsSpan((int)(start - block * blockSize)));
                    expected[block] = content;
                }
            }
        }
        using var scanner = ImageScanner.Open(path, blockSize);
        var nonZero = scanner.Blocks().Where(b => !b.IsZero).ToList();
        Assert.Equal(expected.Keys, nonZero.Select(b => b.Number));
        Assert.Equal(expected.Values.Select(c => Fingerprint.Compute(c)), nonZero.Select(b => b.Fingerprint));
        Assert.True(scanner.BytesRead <= 4L << 20, $"read {scanner.BytesRead} bytes");
    }

    [Theory]
    [InlineData(512)]
    [InlineData(65536)]
    public void Works_at_the_extreme_block_sizes(int blockSize)
    {
        using var dir = new TempDirectory();
        string path = TestImages.Write(dir.File("img"), [3, null, 4], blockSize);
        using var scanner = ImageScanner.Open(path, blockSize);
        var blocks = scanner.Blocks().ToList();
        Assert.Equal(3, blocks.Count);
        Assert.Equal(TestImages.FingerprintOf(3, blockSize), blocks[0].Fingerprint);
        Assert.True(blocks[1].IsZero);
        Assert.Equal(TestImages.FingerprintOf(4, blockSize), blocks[2].Fingerprint);
    }

    [Fact]
    public void Parallel_ranges_agree_with_a_sequential_scan()
    {
        using var dir = new TempDirectory();
        var seeds = Enumerable.Range(0, 700).Select(i => i % 5 == 0 ? (int?)null : i).ToList();
        string path = TestImages.Write(dir.File("img"), seeds, 512);
        using var scanner = ImageScanner.Open(path, 512);
        var sequential = scanner.Blocks().ToList();
        var parallel = new ScannedBlock[700];
        Parallel.For(0, 7, range =>
        {
            foreach (var block in scanner.Blocks(range * 100, 100))
                parallel[block.Number] = block;
        });
        Assert.Equal(sequential, parallel);
    }

    [Fact]
    public void An_empty_image_has_no_blocks_and_a_missing_one_fails_clearly()
    {
        using var dir = new TempDirectory();
        File.WriteAllBytes(dir.File("empty"), []);
        using (var scanner = ImageScanner.Open(dir.File("empty")))
        {
            Assert.Equal(0, scanner.BlockCount);
            Assert.Empty(scanner.Blocks().ToList());
        }
        Assert.Throws<FileNotFoundException>(() => ImageScanner.Open(dir.File("missing")));
        Assert.Throws<ArgumentException>(() => ImageScanner.Open(dir.File("empty"), 1000));
    }
}
