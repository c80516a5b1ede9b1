using BenchmarkDotNet.Attributes;
using Teleport.Blocks;

namespace Teleport.Benchmarks;

/// <summary>
/// TryReadVerified on one thread over an index of a 64 MiB image in the page cache: a hit reads the local
/// block and re-hashes it; a miss is a table probe. Each operation is 1024 lookups.
/// </summary>
public class LookupBenchmarks
{
    private const int Lookups = 1024;
    private string _directory = "";
    private BlockIndex? _index;
    private Fingerprint[] _present = [];
    private Fingerprint[] _absent = [];
    private readonly byte[] _block = new byte[BlockSizes.Default];

    [GlobalSetup]
    public void Setup()
    {
        _directory = BenchFiles.Directory();
        string image = BenchFiles.Random(_directory, 64L << 20);
        _index = BlockIndex.Open(Path.Combine(_directory, "index"));
        _index.Update([image]);
        using var scanner = ImageScanner.Open(image);
        var all = scanner.Blocks().Select(b => b.Fingerprint).ToArray();
        var random = new Random(3);
        _present = Enumerable.Range(0, Lookups).Select(_ => all[random.Next(all.Length)]).ToArray();
        _absent = Enumerable.Range(0, Lookups).Select(i => Fingerprint.Compute(BitConverter.GetBytes(i))).ToArray();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _index?.Dispose();
        BenchFiles.Delete(_directory);
    }

    [Benchmark(OperationsPerInvoke = Lookups, Description = "TryReadVerified hit")]
    public int Hits()
    {
        int found = 0;
        foreach (var fingerprint in _present)
            if (_index!.TryReadVerified(fingerprint, _block))
                found++;
        return found;
    }

    [Benchmark(OperationsPerInvoke = Lookups, Description = "TryReadVerified miss")]
    public int Misses()
    {
        int found = 0;
        foreach (var fingerprint in _absent)
            if (_index!.TryReadVerified(fingerprint, _block))
                found++;
        return found;
    }
}
