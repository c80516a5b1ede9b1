using BenchmarkDotNet.Attributes;
using Teleport.Blocks;

namespace Teleport.Benchmarks;

/// <summary>
/// Index build throughput from the page cache: 256 MiB of unique non-zero blocks, 256 MiB of written zeros,
/// and a 4 GiB file that is all hole. Throughput = file size / mean time; per core = that / Workers.
/// </summary>
public class IndexBuildBenchmarks
{
    private const long DataBytes = 256L << 20;
    private const long SparseBytes = 4L << 30;
    private string _directory = "";
    private string _random = "", _zeros = "", _sparse = "";
    private int _run;

    [Params(1, 2)]
    public int Workers { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _directory = BenchFiles.Directory();
        _random = BenchFiles.Random(_directory, DataBytes);
        _zeros = BenchFiles.WrittenZeros(_directory, DataBytes);
        _sparse = BenchFiles.Sparse(_directory, SparseBytes);
    }

    [GlobalCleanup]
    public void Cleanup() => BenchFiles.Delete(_directory);

    [Benchmark(Description = "build: 256 MiB non-zero")]
    public long NonZero() => Build(_random);

    [Benchmark(Description = "build: 256 MiB written zeros")]
    public long Zeros() => Build(_zeros);

    [Benchmark(Description = "build: 4 GiB hole")]
    public long Hole() => Build(_sparse);

    private long Build(string image)
    {
        string indexDirectory = Path.Combine(_directory, $"index-{_run++}");
        using var index = BlockIndex.Open(indexDirectory);
        index.MaxParallelism = Workers;
        long entries = index.Update([image]).EntriesAdded;
        Directory.Delete(indexDirectory, recursive: true);
        return entries;
    }
}
