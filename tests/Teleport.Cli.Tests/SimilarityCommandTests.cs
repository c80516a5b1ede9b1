namespace Teleport.Cli.Tests;

public sealed class SimilarityCommandTests : IDisposable
{
    private readonly TestImages _images = new();

    public void Dispose() => _images.Dispose();

    [Fact]
    public void Json_has_exactly_the_promised_integer_fields()
    {
        var json = CliRun.Of("similarity", "--base", _images.Base, "--target", _images.Target, "--json").Json();

        string[] names = json.EnumerateObject().Select(p => p.Name).ToArray();
        Assert.Equal(["blockSize", "blocks", "zeroBlocks", "nonZeroBlocks", "hitBlocks", "selfDuplicateBlocks", "mustSendBlocks"], names);
        Assert.All(json.EnumerateObject(), p => Assert.True(p.Value.TryGetInt64(out _), $"{p.Name} is not an integer"));
        Assert.Equal(4096, json.GetProperty("blockSize").GetInt32());
        Assert.Equal(120, json.GetProperty("blocks").GetInt64());
        Assert.Equal(32, json.GetProperty("zeroBlocks").GetInt64());
        Assert.Equal(88, json.GetProperty("nonZeroBlocks").GetInt64());
        Assert.Equal(64, json.GetProperty("hitBlocks").GetInt64());
        Assert.Equal(8, json.GetProperty("selfDuplicateBlocks").GetInt64());
        Assert.Equal(16, json.GetProperty("mustSendBlocks").GetInt64());
    }

    [Fact]
    public void Several_images_print_the_similarity_and_zero_block_tables()
    {
        var run = CliRun.Of("similarity", "--base", _images.Base, "--base", _images.Target,
            "--target", _images.Base, "--target", _images.Target);

        Assert.Equal(0, run.ExitCode);
        Assert.Contains("n/a", run.Stdout);
        Assert.Contains("72.73%", run.Stdout);   // 64 of the target's 88 non-zero blocks are in the base
        Assert.Contains("50.00%", run.Stdout);   // 64 of the base's 128 are in the target
        Assert.Contains("26.67%", run.Stdout);   // 32 of the target's 120 blocks are zero
    }

    [Fact]
    public void Matrix_json_lists_every_pair()
    {
        var json = CliRun.Of("similarity", "--base", _images.Base, "--base", _images.Target,
            "--target", _images.Target, "--json").Json();

        var pairs = json.GetProperty("pairs").EnumerateArray().ToArray();
        Assert.Equal(2, pairs.Length);
        Assert.Equal(88, pairs[1].GetProperty("result").GetProperty("hitBlocks").GetInt64());
    }

    [Fact]
    public void A_missing_image_is_a_clear_error()
    {
        var run = CliRun.Of("similarity", "--base", _images.PathOf("missing.img"), "--target", _images.Target, "--json");

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("missing.img' does not exist", run.Stderr);
        Assert.Equal("", run.Stdout);
    }

    [Theory]
    [InlineData("3000")]
    [InlineData("256")]
    [InlineData("128k")]
    [InlineData("four")]
    public void A_bad_block_size_is_a_clear_error(string blockSize)
    {
        var run = CliRun.Of("similarity", "--base", _images.Base, "--target", _images.Target, "--block-size", blockSize);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("--block-size", run.Stderr);
    }

    [Fact]
    public void Block_size_changes_the_granularity()
    {
        var json = CliRun.Of("similarity", "--base", _images.Base, "--target", _images.Target, "--block-size", "1k", "--json").Json();

        Assert.Equal(1024, json.GetProperty("blockSize").GetInt32());
        Assert.Equal(480, json.GetProperty("blocks").GetInt64());
        Assert.Equal(256, json.GetProperty("hitBlocks").GetInt64());
    }
}
