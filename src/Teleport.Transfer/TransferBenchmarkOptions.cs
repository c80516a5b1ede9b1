using Teleport.Blocks;

namespace Teleport.Transfer;

/// <summary>
/// What <see cref="TransferBenchmark"/> generates and how it migrates it. The source volume mixes four kinds of
/// blocks in shuffled runs: zero, blocks the destination's index already holds (from a "golden image" beside it),
/// compressible text, and random bytes.
/// </summary>
public sealed record TransferBenchmarkOptions
{
    public long VolumeBytes { get; init; } = 256L << 20;

    public int BlockSize { get; init; } = BlockSizes.Default;

    public ByteRate Bandwidth { get; init; } = ByteRate.Unlimited;

    public int CompressionLevel { get; init; } = 1;

    public double ZeroFraction { get; init; } = 0.25;

    /// <summary>Share of blocks also present in the destination's golden image (found through its index).</summary>
    public double IndexedFraction { get; init; } = 0.25;

    public double CompressibleFraction { get; init; } = 0.25;

    /// <summary>Where to put the files (a fresh temporary directory by default; removed afterwards).</summary>
    public string? WorkDirectory { get; init; }

    public int Seed { get; init; } = 1;

    /// <summary>Round-trip time added by a loopback delay line between the sessions (zero: direct loopback).</summary>
    public TimeSpan RoundTripTime { get; init; }
}
