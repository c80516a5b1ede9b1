namespace Teleport.Cli.Tests;

/// <summary>
/// The tools on real ext4 images of Debian systems (infra/images/make-test-images.sh, exported by infra/test.sh
/// as TELEPORT_TEST_IMAGES). base.img and web.img are used: the 256 MiB ones.
/// </summary>
public sealed class TestImageTests : IDisposable
{
    private readonly string _images;
    private readonly string _scratch = Directory.CreateTempSubdirectory("teleport-images-").FullName;

    public TestImageTests()
    {
        _images = Environment.GetEnvironmentVariable("TELEPORT_TEST_IMAGES")
            ?? throw new InvalidOperationException("TELEPORT_TEST_IMAGES is not set: run the tests through infra/test.sh, which builds the test images.");
        foreach (string? name in new[] { "base.img", "web.img" })
            if (!File.Exists(Path.Combine(_images, name)))
                throw new InvalidOperationException($"{name} is missing from {_images}: run infra/images/make-test-images.sh --out {_images}");
    }

    public void Dispose() => Directory.Delete(_scratch, recursive: true);

    private string Image(string name) => Path.Combine(_images, name);

    [Fact]
    public void A_server_image_is_mostly_rebuilt_from_the_base_image()
    {
        var json = CliRun.Of("similarity", "--base", Image("base.img"), "--target", Image("web.img"), "--json").Json();

        long blocks = json.GetProperty("blocks").GetInt64();
        long nonZero = json.GetProperty("nonZeroBlocks").GetInt64();
        long hits = json.GetProperty("hitBlocks").GetInt64();
        long self = json.GetProperty("selfDuplicateBlocks").GetInt64();
        long send = json.GetProperty("mustSendBlocks").GetInt64();
        Assert.Equal(256L << 20, blocks * 4096);
        Assert.Equal(nonZero, hits + self + send);
        Assert.Equal(blocks, nonZero + json.GetProperty("zeroBlocks").GetInt64());
        // web = base + nginx + Python + its own data: most of its content is the base system.
        Assert.InRange((double)hits / nonZero, 0.5, 0.99);
        Assert.True(send > 0, "web.img has data of its own that must be sent");
    }

    [Fact]
    public void Smaller_blocks_find_at_least_as_much()
    {
        long BytesNotSent(string blockSize)
        {
            var json = CliRun.Of("similarity", "--base", Image("base.img"), "--target", Image("web.img"),
                "--block-size", blockSize, "--json").Json();
            return (json.GetProperty("hitBlocks").GetInt64() + json.GetProperty("zeroBlocks").GetInt64()) * int.Parse(blockSize);
        }

        // Every 512-byte piece of a 4 KiB hit or zero block is itself a hit or zero, so smaller blocks never find less.
        Assert.True(BytesNotSent("512") >= BytesNotSent("4096"));
    }

    [Fact]
    public void Index_over_the_base_then_incremental_update_adds_the_server_image()
    {
        string index = Path.Combine(_scratch, "index");
        var first = CliRun.Of("index", "build", "--index", index, Image("base.img"), "--json").Json();
        Assert.Equal(1, first.GetProperty("filesScanned").GetInt32());
        Assert.True(first.GetProperty("uniqueBlocks").GetInt64() > 10_000);
        // Holes and zero runs of a mostly empty filesystem are not read or indexed.
        Assert.True(first.GetProperty("zeroBlocks").GetInt64() > 0);

        var second = CliRun.Of("index", "build", "--index", index, Image("base.img"), Image("web.img"), "--json").Json();
        Assert.Equal(1, second.GetProperty("filesScanned").GetInt32());
        Assert.Equal(1, second.GetProperty("filesSkipped").GetInt32());
        Assert.Equal(new FileInfo(Image("web.img")).Length, second.GetProperty("bytesRead").GetInt64() + SkippedBytes(Image("web.img")));
        var similarity = CliRun.Of("similarity", "--base", Image("base.img"), "--target", Image("web.img"), "--json").Json();
        // web's content the base does not have becomes new entries; repeats inside web do not.
        Assert.Equal(first.GetProperty("uniqueBlocks").GetInt64() + similarity.GetProperty("mustSendBlocks").GetInt64(),
            second.GetProperty("uniqueBlocks").GetInt64());
    }

    // Bytes of the image's holes, which the scanner skips without reading.
    private static long SkippedBytes(string path)
    {
        using var scanner = Teleport.Blocks.ImageScanner.Open(path);
        foreach (var _ in scanner.Blocks())
        {
        }
        return scanner.Length - scanner.BytesRead;
    }
}
