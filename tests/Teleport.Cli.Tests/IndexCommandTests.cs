using Teleport.Blocks;

namespace Teleport.Cli.Tests;

public sealed class IndexCommandTests : IDisposable
{
    private readonly TestImages _images = new();

    public void Dispose() => _images.Dispose();

    private string IndexDir => _images.PathOf("index");

    [Fact]
    public void Build_reports_the_promised_fields_and_stats_agree()
    {
        var build = CliRun.Of("index", "build", "--index", IndexDir, _images.Base, _images.Target, "--json").Json();

        foreach (string? field in new[] { "files", "blocks", "zeroBlocks", "uniqueBlocks", "bytesRead", "seconds", "indexBytes" })
            Assert.True(build.TryGetProperty(field, out _), $"missing {field}");
        Assert.Equal(2, build.GetProperty("files").GetInt32());
        Assert.Equal(128 + 120, build.GetProperty("blocks").GetInt64());
        Assert.Equal(32, build.GetProperty("zeroBlocks").GetInt64());
        Assert.Equal(128 + 16, build.GetProperty("uniqueBlocks").GetInt64());
        Assert.Equal(new FileInfo(_images.Base).Length + new FileInfo(_images.Target).Length, build.GetProperty("bytesRead").GetInt64());
        Assert.True(build.GetProperty("indexBytes").GetInt64() > 0);

        var stats = CliRun.Of("index", "stats", "--index", IndexDir, "--json").Json();
        Assert.Equal(build.GetProperty("uniqueBlocks").GetInt64(), stats.GetProperty("uniqueBlocks").GetInt64());
        Assert.Equal(build.GetProperty("indexBytes").GetInt64(), stats.GetProperty("indexBytes").GetInt64());
        Assert.Equal(2, stats.GetProperty("files").GetInt32());

        // memoryBytes is the index's resident memory as the library counts it, in both commands.
        using var index = BlockIndex.Open(IndexDir);
        Assert.Equal(index.Stats.MemoryBytes, stats.GetProperty("memoryBytes").GetInt64());
        Assert.Equal(index.Stats.MemoryBytes, build.GetProperty("memoryBytes").GetInt64());
        Assert.True(index.Stats.MemoryBytes > 0);
    }

    [Fact]
    public void A_second_build_skips_unchanged_images()
    {
        CliRun.Of("index", "build", "--index", IndexDir, _images.Base, _images.Target, "--json").Json();

        var again = CliRun.Of("index", "build", "--index", IndexDir, _images.Base, _images.Target, "--json").Json();

        Assert.Equal(0, again.GetProperty("bytesRead").GetInt64());
        Assert.Equal(2, again.GetProperty("filesSkipped").GetInt32());
        Assert.Equal(128 + 16, again.GetProperty("uniqueBlocks").GetInt64());
    }

    [Fact]
    public void A_damaged_index_is_reported_and_can_be_rebuilt()
    {
        CliRun.Of("index", "build", "--index", IndexDir, _images.Base, "--json").Json();
        string file = Assert.Single(Directory.GetFiles(IndexDir));
        using (var stream = File.OpenWrite(file))
            stream.SetLength(stream.Length / 2);

        var stats = CliRun.Of("index", "stats", "--index", IndexDir, "--json");
        Assert.Equal(2, stats.ExitCode);
        Assert.Contains("--rebuild", stats.Stderr);

        var rebuilt = CliRun.Of("index", "build", "--rebuild", "--index", IndexDir, _images.Base, "--json").Json();
        Assert.Equal(128, rebuilt.GetProperty("uniqueBlocks").GetInt64());
    }

    [Fact]
    public void Rebuild_of_an_index_that_does_not_exist_yet_builds_it()
    {
        var json = CliRun.Of("index", "build", "--rebuild", "--index", IndexDir, _images.Base, "--json").Json();

        Assert.Equal(128, json.GetProperty("uniqueBlocks").GetInt64());
    }

    [Fact]
    public void Stats_on_a_missing_directory_is_a_clear_error()
    {
        var run = CliRun.Of("index", "stats", "--index", _images.PathOf("nowhere"));

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("no index at", run.Stderr);
    }

    [Fact]
    public void Human_output_is_a_table()
    {
        var run = CliRun.Of("index", "build", "--index", IndexDir, _images.Base);

        Assert.Equal(0, run.ExitCode);
        Assert.Contains("unique non-zero blocks", run.Stdout);
        Assert.Contains("128", run.Stdout);
    }
}
