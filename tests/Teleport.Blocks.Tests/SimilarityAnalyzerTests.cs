using Teleport.Blocks;

namespace Teleport.Blocks.Tests;

/// <summary>Similarity checked against a brute-force reference that compares raw block bytes, not fingerprints.</summary>
public sealed class SimilarityAnalyzerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("teleport-similarity-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(512, 1, 0)]
    [InlineData(4096, 2, 0)]
    [InlineData(4096, 3, 1234)]   // a final partial block
    [InlineData(65536, 4, 100)]
    public void Matches_brute_force_reference(int blockSize, int seed, int tail)
    {
        var random = new Random(seed);
        byte[][] pool = Enumerable.Range(0, 40).Select(_ => RandomBlock(random, blockSize)).ToArray();
        byte[] baseBytes = Compose(random, pool, blockSize, blocks: 300, tail: 0, freshShare: 0.2);
        byte[] targetBytes = Compose(random, pool, blockSize, blocks: 400, tail: tail, freshShare: 0.3);
        string basePath = Write("base.img", baseBytes);
        string targetPath = Write("target.img", targetBytes);

        var actual = SimilarityAnalyzer.Compare(ImageDigest.Compute(basePath, blockSize), ImageDigest.Compute(targetPath, blockSize));

        var expected = Reference(baseBytes, targetBytes, blockSize);
        Assert.Equal(expected, actual);
        Assert.True(actual.HitBlocks > 0 && actual.SelfDuplicateBlocks > 0 && actual.MustSendBlocks > 0 && actual.ZeroBlocks > 0,
            $"generated data must exercise every class: {actual}");
        Assert.Equal(actual.NonZeroBlocks, actual.HitBlocks + actual.SelfDuplicateBlocks + actual.MustSendBlocks);
    }

    [Fact]
    public void Holes_count_as_zero_blocks_and_are_not_read()
    {
        const int blockSize = 4096;
        string path = Path.Combine(_dir, "sparse.img");
        using (var file = new FileStream(path, FileMode.Create))
        {
            file.SetLength(64L << 20);
            file.Position = 32L << 20;
            file.Write(RandomBlock(new Random(7), blockSize));
        }

        var digest = ImageDigest.Compute(path, blockSize);

        Assert.Equal((64L << 20) / blockSize, digest.Blocks);
        Assert.Equal(digest.Blocks - 1, digest.ZeroBlocks);
        Assert.False(digest.IsZero((32L << 20) / blockSize));
        Assert.True(digest.BytesRead < 4L << 20, $"read {digest.BytesRead} bytes of a 64 MiB file that is almost all hole");
    }

    [Fact]
    public void An_image_against_itself_hits_every_non_zero_block()
    {
        var random = new Random(11);
        byte[][] pool = Enumerable.Range(0, 20).Select(_ => RandomBlock(random, 4096)).ToArray();
        string path = Write("self.img", Compose(random, pool, 4096, blocks: 200, tail: 0, freshShare: 0.5));
        var digest = ImageDigest.Compute(path);

        var report = SimilarityAnalyzer.Compare(digest, digest);

        Assert.Equal(report.NonZeroBlocks, report.HitBlocks);
        Assert.Equal(0, report.MustSendBlocks);
        Assert.Equal(0, report.SelfDuplicateBlocks);
    }

    [Fact]
    public void Different_block_sizes_are_refused()
    {
        string path = Write("small.img", new byte[8192]);
        var ex = Assert.Throws<ArgumentException>(() =>
            SimilarityAnalyzer.Compare(ImageDigest.Compute(path, 512), ImageDigest.Compute(path, 4096)));
        Assert.Contains("Block sizes differ", ex.Message);
    }

    private string Write(string name, byte[] bytes)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static byte[] RandomBlock(Random random, int size)
    {
        byte[] block = new byte[size];
        random.NextBytes(block);
        return block;
    }

    // Zero blocks, blocks from the shared pool (hits when the base drew them too), fresh random blocks, and repeats.
    private static byte[] Compose(Random random, byte[][] pool, int blockSize, int blocks, int tail, double freshShare)
    {
        byte[] bytes = new byte[(long)blocks * blockSize + tail];
        var written = new List<byte[]>();
        for (int i = 0; i < blocks + (tail > 0 ? 1 : 0); i++)
        {
            double roll = random.NextDouble();
            byte[]? block = roll < 0.15 ? null
                : roll < 0.15 + freshShare ? RandomBlock(random, blockSize)
                : roll < 0.9 || written.Count == 0 ? pool[random.Next(pool.Length)]
                : written[random.Next(written.Count)];
            if (block is null)
                continue;
            written.Add(block);
            int length = (int)Math.Min(blockSize, bytes.Length - (long)i * blockSize);
            block.AsSpan(0, length).CopyTo(bytes.AsSpan(i * blockSize));
        }
        return bytes;
    }

    private static SimilarityReport Reference(byte[] baseBytes, byte[] targetBytes, int blockSize)
    {
        static IEnumerable<string?> Blocks(byte[] bytes, int blockSize)
        {
            for (long offset = 0; offset < bytes.Length; offset += blockSize)
            {
                byte[] block = new byte[blockSize]; // zero-padded, as a final partial block is
                bytes.AsSpan((int)offset, (int)Math.Min(blockSize, bytes.Length - offset)).CopyTo(block);
                yield return block.All(b => b == 0) ? null : Convert.ToHexString(block);
            }
        }

        var baseContent = Blocks(baseBytes, blockSize).Where(b => b is not null).ToHashSet();
        long blocks = 0, zero = 0, hits = 0, self = 0, send = 0;
        var seen = new HashSet<string>();
        foreach (string? block in Blocks(targetBytes, blockSize))
        {
            blocks++;
            if (block is null) zero++;
            else if (baseContent.Contains(block)) hits++;
            else if (!seen.Add(block)) self++;
            else send++;
        }
        return new SimilarityReport(blockSize, blocks, zero, blocks - zero, hits, self, send);
    }
}
