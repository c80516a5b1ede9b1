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
    private readonly IncrementalHash _kept = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly BlockHasher _hasher = new();

    [GlobalSetup]
    public void Setup() => new Random(1).NextBytes(_block);

    [Benchmark(Description = "SHA256.HashData 4 KiB")]
    public int Sha256() => SHA256.HashData(_block, _hash);

    [Benchmark(Description = "Fingerprint.Compute 4 KiB")]
    public ulong Fingerprint4K() => Fingerprint.Compute(_block).Prefix64;

    // The batched verified lookup's hasher (issue 18): against the kept IncrementalHash it replaced.
    [Benchmark(Description = "Fingerprint.Compute 4 KiB, kept IncrementalHash")]
    public ulong FingerprintKept4K() => Fingerprint.Compute(_block, _kept).Prefix64;

    [Benchmark(Description = "BlockHasher.Compute 4 KiB (libcrypto's SHA256_Init/Update/Final)")]
    public ulong BlockHasher4K() => _hasher.Compute(_block).Prefix64;

    [GlobalCleanup]
    public void Cleanup()
    {
        _kept.Dispose();
        _hasher.Dispose();
    }

    [Benchmark(Description = "ZeroBlocks.IsZero 4 KiB (all zero)")]
    public bool IsZero() => ZeroBlocks.IsZero(_zero);
}
