using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using Teleport.Blocks;

namespace Teleport.Benchmarks;

/// <summary>Per-block costs on one core: SHA-256 of a 4 KiB block, and the zero check.</summary>
[MemoryDiagnoser]
public class HashingBenchmarks
{
    private readonly byte[] _block = new byte[BlockSizes.Default];
    private readonly byte[] _zero = new byte[BlockSizes.Default];
    private readonly byte[] _hash = new byte[32];

    [GlobalSetup]
    public void Setup() => new Random(1).NextBytes(_block);

    [Benchmark(Description = "SHA256.HashData 4 KiB")]
    public int Sha256() => SHA256.HashData(_block, _hash);

    [Benchmark(Description = "Fingerprint.Compute 4 KiB")]
    public ulong Fingerprint4K() => Fingerprint.Compute(_block).Prefix64;

    [Benchmark(Description = "ZeroBlocks.IsZero 4 KiB (all zero)")]
    public bool IsZero() => ZeroBlocks.IsZero(_zero);
}
