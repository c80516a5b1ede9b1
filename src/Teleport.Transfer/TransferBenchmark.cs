using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using Teleport.Blocks;
using Teleport.Transfer.Protocol;

namespace Teleport.Transfer;

/// <summary>
/// Measures a whole migration on loopback (both sessions in this process) over generated volumes, plus the source's
/// per-core hashing and compression speed. Meant for `teleport bench transfer`.
/// </summary>
public static class TransferBenchmark
{
    public static async Task<TransferBenchmarkReport> RunAsync(TransferBenchmarkOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        BlockSizes.Validate(options.BlockSize);
        string dir = options.WorkDirectory ?? Path.Combine(Path.GetTempPath(), "teleport-bench-" + Guid.NewGuid().ToString("n"));
        Directory.CreateDirectory(dir);
        string sourcePath = Path.Combine(dir, "source.img"), goldenPath = Path.Combine(dir, "golden.img");
        string destinationPath = Path.Combine(dir, "destination.img"), indexDir = Path.Combine(dir, "index");
        try
        {
            Generate(options, sourcePath, goldenPath);
            using var index = BlockIndex.Open(indexDir, options.BlockSize);
            index.Update([goldenPath], cancellationToken);
            (double hash, double compress) = MeasureSourceCpu(sourcePath, options);

            long size = new FileInfo(sourcePath).Length;
            var tracker = new DirtyBitmap(BlockSizes.CountBlocks(size, options.BlockSize), options.BlockSize);
            var id = Guid.NewGuid();
            byte[] secret = RandomNumberGenerator.GetBytes(32);
            await using var destination = new DestinationSession(new DestinationOptions
            {
                MigrationId = id,
                Secret = secret,
                VolumePath = destinationPath,
                Listen = new IPEndPoint(IPAddress.Loopback, 0),
                Index = index,
            });
            var endpoint = destination.Start();
            await using var delay = options.RoundTripTime > TimeSpan.Zero ? new DelayLine(endpoint, options.RoundTripTime) : null;
            var destinationRun = destination.RunAsync(cancellationToken);
            await using var source = new SourceSession(new SourceOptions
            {
                MigrationId = id,
                Secret = secret,
                VolumePath = sourcePath,
                Destination = delay?.EndPoint ?? endpoint,
                BlockSize = options.BlockSize,
                CompressionLevel = options.CompressionLevel,
                Bandwidth = options.Bandwidth,
                AutoCutover = true,
            }, tracker);
            var result = await source.RunAsync(cancellationToken).ConfigureAwait(false);
            await destinationRun.ConfigureAwait(false);
            double? expected = options.Bandwidth.IsUnlimited ? null : result.BytesOnWire / options.Bandwidth.BytesPerSecond;
            return new TransferBenchmarkReport(options, size, result, hash, compress, expected);
        }
        finally
        {
            if (options.WorkDirectory is null)
                Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>Writes the source volume and a golden image that shares <see cref="TransferBenchmarkOptions.IndexedFraction"/> of its blocks.</summary>
    private static void Generate(TransferBenchmarkOptions o, string sourcePath, string goldenPath)
    {
        int bs = o.BlockSize;
        long blocks = o.VolumeBytes / bs;
        var random = new Random(o.Seed);
        using var source = new FileStream(sourcePath, FileMode.Create, FileAccess.Write);
        using var golden = new FileStream(goldenPath, FileMode.Create, FileAccess.Write);
        var block = new byte[bs];
        const int RunLength = 64; // kinds come in runs, as file systems lay data out in extents
        byte[] words = "the quick brown fox jumps over the lazy dog 0123456789 teleport "u8.ToArray();
        for (long b = 0; b < blocks; b += RunLength)
        {
            double pick = random.NextDouble();
            int n = (int)Math.Min(RunLength, blocks - b);
            for (int i = 0; i < n; i++)
            {
                if (pick < o.ZeroFraction)
                {
                    Array.Clear(block);
                }
                else if (pick < o.ZeroFraction + o.IndexedFraction)
                {
                    random.NextBytes(block);
                    golden.Write(block);
                }
                else if (pick < o.ZeroFraction + o.IndexedFraction + o.CompressibleFraction)
                {
                    for (int j = 0; j < bs; j++)
                        block[j] = words[(j * 7 + random.Next(4)) % words.Length];
                }
                else
                {
                    random.NextBytes(block);
                }

                source.Write(block);
            }
        }

        // Golden blocks that are not in the source: the index holds more than this volume needs.
        for (int i = 0; i < 256; i++)
        {
            random.NextBytes(block);
            golden.Write(block);
        }
    }

    private static (double HashMBps, double CompressMBps) MeasureSourceCpu(string sourcePath, TransferBenchmarkOptions o)
    {
        // Up to 64 MiB of the generated volume, non-zero blocks only (zero blocks are neither hashed nor compressed).
        byte[] data = new byte[(int)Math.Min(64L << 20, new FileInfo(sourcePath).Length)];
        using (var file = File.OpenRead(sourcePath))
            file.ReadExactly(data);
        var clock = Stopwatch.StartNew();
        long hashed = 0;
        for (int at = 0; at + o.BlockSize <= data.Length; at += o.BlockSize)
        {
            var block = data.AsSpan(at, o.BlockSize);
            if (ZeroBlocks.IsZero(block))
                continue;
            Fingerprint.Compute(block);
            hashed += o.BlockSize;
        }

        double hash = hashed / 1e6 / clock.Elapsed.TotalSeconds;
        if (o.CompressionLevel == 0)
            return (hash, 0);
        using var compressor = new StreamCompressor(o.CompressionLevel, StreamCompressor.WindowLogFor(data.Length, ProtocolConstants.MaxWindowLog));
        var target = new byte[StreamCompressor.Bound(1 << 20)];
        clock.Restart();
        long compressed = 0;
        for (int at = 0; at + (1 << 20) <= data.Length; at += 1 << 20)
        {
            compressor.Compress(data.AsSpan(at, 1 << 20), target);
            compressed += 1 << 20;
        }

        double compress = compressed == 0 ? 0 : compressed / 1e6 / clock.Elapsed.TotalSeconds;
        return (hash, compress);
    }
}
