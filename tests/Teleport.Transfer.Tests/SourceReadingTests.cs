using System.Buffers;
using System.Threading.Channels;
using Teleport.Blocks;
using Teleport.Transfer.Protocol;
using Teleport.Transfer.Source;

namespace Teleport.Transfer.Tests;

/// <summary>The source's index scanner and Data frame builder on small files, without sockets.</summary>
public sealed class SourceReadingTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private SourceVolume Volume(byte[] bytes, int blockSize = VolumeBuilder.BlockSize)
    {
        string path = _dir.File(Guid.NewGuid().ToString("n"));
        File.WriteAllBytes(path, bytes);
        return SourceVolume.Open(path, blockSize);
    }

    /// <summary>Expected fingerprint of every block, the last one zero-padded.</summary>
    private static Fingerprint[] Prints(byte[] bytes, in VolumeGeometry geometry)
    {
        var prints = new Fingerprint[geometry.BlockCount];
        byte[] pad = new byte[geometry.BlockSize];
        for (long b = 0; b < geometry.BlockCount; b++)
            prints[b] = Fingerprint.ComputePadded(bytes.AsSpan((int)geometry.Offset(b), geometry.BlockLength(b)), pad);
        return prints;
    }

    /// <summary>What the index stream carries per block: the 128-bit prefix of its fingerprint.</summary>
    private static FingerprintPrefix?[] Prefixes(byte[] bytes, in VolumeGeometry geometry) =>
        [.. Prints(bytes, geometry).Select(p => (FingerprintPrefix?)FingerprintPrefix.Of(p))];

    /// <summary>Scans from <paramref name="from"/> and decodes the batches back into one fingerprint per block.</summary>
    private static async Task<(FingerprintPrefix?[] Blocks, int Batches, long ZeroBlocks)> ScanAsync(IndexScanner scanner, VolumeGeometry geometry, long from = 0)
    {
        var channel = Channel.CreateUnbounded<ScannedBatch>();
        await scanner.ScanAsync(from, channel.Writer, CancellationToken.None);
        var blocks = new FingerprintPrefix?[geometry.BlockCount];
        var listed = new List<FingerprintPrefix>();
        int batches = 0;
        long zeros = 0, next = from;
        await foreach (var batch in channel.Reader.ReadAllAsync())
        {
            next = Decode(batch, geometry, next, blocks, listed);
            Assert.Equal(batch.Next, next);
            zeros += batch.ZeroBlocks;
            batches++;
            ArrayPool<byte>.Shared.Return(batch.Buffer);
        }

        Assert.Equal(geometry.BlockCount, next);
        return (blocks, batches, zeros);
    }

    private static long Decode(ScannedBatch batch, in VolumeGeometry geometry, long first, FingerprintPrefix?[] blocks, List<FingerprintPrefix> listed)
    {
        var reader = new IndexBatchReader(batch.Buffer.AsSpan(0, batch.Length), geometry, first);
        while (reader.TryRead(out var entry))
        {
            if (entry.Zero)
                continue; // left null: a zero block
            var print = entry.Repeat > 0 ? listed[^(int)entry.Repeat] : entry.Prefix;
            if (entry.Repeat == 0)
                listed.Add(print);
            blocks[entry.Block] = print;
        }

        return reader.Next;
    }

    [Fact]
    public async Task The_scanner_lists_zero_runs_repeats_and_fingerprints_and_records_every_block()
    {
        byte[] bytes = VolumeBuilder.Build("rzzzarazzbtab", seed: 3, tail: 100);
        using var volume = Volume(bytes);
        var geometry = volume.Geometry;
        var scanner = new IndexScanner(volume);

        var (blocks, batches, zeros) = await ScanAsync(scanner, geometry);

        var prints = Prints(bytes, geometry);
        Assert.Equal(1, batches);
        Assert.Equal(5, zeros);
        for (long b = 0; b < geometry.BlockCount; b++)
            Assert.Equal(ZeroBlocks.IsZero(bytes.AsSpan((int)geometry.Offset(b), geometry.BlockLength(b))) ? null : FingerprintPrefix.Of(prints[b]), blocks[b]);
        Assert.Equal(VolumeDigest.Compute(geometry, prints), volume.Digest());
    }

    [Fact]
    public async Task A_large_scan_splits_into_batches_and_repeats_start_over_on_a_new_connection()
    {
        // 512-byte blocks: 5000 distinct ones overflow one batch of 17-byte entries.
        byte[] bytes = VolumeBuilder.Build(VolumeBuilder.Repeat("r", 5000 * 512 / VolumeBuilder.BlockSize), seed: 5, tail: 7);
        using var volume = Volume(bytes, blockSize: 512);
        var geometry = volume.Geometry;
        var scanner = new IndexScanner(volume);

        var first = await ScanAsync(scanner, geometry);
        Assert.True(first.Batches >= 2, $"{first.Batches} batches");
        Assert.Equal(Prefixes(bytes, geometry), first.Blocks);

        // Resuming at block 1000 on a new connection: every fingerprint is listed again in full.
        scanner.BeginConnection();
        var resumed = await ScanAsync(scanner, geometry, from: 1000);
        Assert.Equal(Prefixes(bytes, geometry).Skip(1000), resumed.Blocks.Skip(1000));
    }

    /// <summary>A file of <paramref name="size"/> bytes that is a hole except where <paramref name="writes"/> put bytes.</summary>
    private string Sparse(long size, params (long Offset, byte[] Bytes)[] writes)
    {
        string path = _dir.File(Guid.NewGuid().ToString("n"));
        using var handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite);
        RandomAccess.SetLength(handle, size);
        foreach (var (offset, bytes) in writes)
            RandomAccess.Write(handle, bytes, offset);
        return path;
    }

    private static byte[] Random(int length, int seed)
    {
        byte[] bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    [Theory]
    [InlineData(4096)]
    [InlineData(65536)]
    public async Task Holes_are_zero_runs_without_being_read_and_the_stream_equals_that_of_the_written_zeros(int blockSize)
    {
        // 32 MiB and a partial last block, mostly hole: data at the start, in the middle of a block (the block is
        // partly hole: still read), zeros written (allocated, read and found zero), and data ending in the last block.
        long size = (32 << 20) + 1000;
        string sparse = Sparse(size, (0, Random(3 * 4096, 1)), ((9 << 20) + 8192, Random(5000, 2)),
            (17 << 20, new byte[1 << 20]), (size - 3000, Random(3000, 3)));
        byte[] bytes = File.ReadAllBytes(sparse);
        using var holes = SourceVolume.Open(sparse, blockSize);
        using var dense = Volume(bytes, blockSize);
        var geometry = holes.Geometry;

        var scanned = await ScanAsync(new IndexScanner(holes), geometry);
        var written = await ScanAsync(new IndexScanner(dense), geometry);

        var prints = Prints(bytes, geometry);
        var expected = prints.Select((p, b) => ZeroBlocks.IsZero(bytes.AsSpan((int)geometry.Offset(b), geometry.BlockLength(b))) ? null : (FingerprintPrefix?)FingerprintPrefix.Of(p));
        Assert.Equal(expected, scanned.Blocks);
        Assert.Equal(written.Blocks, scanned.Blocks);
        Assert.Equal(written.ZeroBlocks, scanned.ZeroBlocks);
        Assert.Equal(VolumeDigest.Compute(geometry, prints), holes.Digest());
        Assert.Equal(size, dense.BytesRead);
        // The data extents (file system blocks of 4 KiB, rounded out to whole volume blocks) and the written zeros only.
        Assert.InRange(holes.BytesRead, (1 << 20) + 3 * 4096, (1 << 20) + 8 * (long)blockSize);
    }

    [Fact]
    public async Task A_volume_that_is_one_hole_is_one_zero_run_and_nothing_is_read()
    {
        string path = Sparse((8 << 20) + 512);
        using var volume = SourceVolume.Open(path, VolumeBuilder.BlockSize);
        var geometry = volume.Geometry;

        var (blocks, batches, zeros) = await ScanAsync(new IndexScanner(volume), geometry);

        Assert.All(blocks, Assert.Null);
        Assert.Equal((1, geometry.BlockCount), (batches, zeros));
        // The partial last block lies past the last whole file-system block of hole: at most it is read.
        Assert.InRange(volume.BytesRead, 0, 512);
        Assert.Equal(VolumeDigest.Compute(geometry, Prints(new byte[geometry.Size], geometry)), volume.Digest());
    }

    [Fact]
    public void The_frame_builder_packs_data_runs_and_leaves_zero_runs_empty()
    {
        byte[] bytes = VolumeBuilder.Build("rzzrrazr", seed: 8, tail: 10);
        using var volume = Volume(bytes);
        var pending = new PendingBlocks(new DirtyBitmap(volume.Geometry.BlockCount, VolumeBuilder.BlockSize));
        pending.Add(1, 5);
        pending.Add(7, 2);
        var builder = new FrameBuilder(volume, pending);
        var frame = new PreparedFrame();

        builder.Fill(frame, ProtocolConstants.MaxBatchBytes);

        Assert.Equal([new DataRun(1, 2, true), new DataRun(3, 3, false), new DataRun(7, 2, false)], frame.Runs.AsSpan(0, frame.RunCount).ToArray());
        byte[] data = [.. bytes.AsSpan(3 * 4096, 3 * 4096), .. bytes.AsSpan(7 * 4096)];
        Assert.Equal(data, frame.Raw.AsSpan(0, frame.RawLength).ToArray());
        Assert.Equal((7L, 2L, bytes.Length - 2 * 4096L), (frame.Blocks, frame.ZeroBlocks, frame.CoveredBytes));
        Assert.Equal(0, pending.Outstanding);
        builder.Fill(frame, ProtocolConstants.MaxBatchBytes);
        Assert.Equal(0, frame.RunCount);
    }

    [Fact]
    public void A_frame_holds_at_most_its_data_limit_and_zero_blocks_are_free()
    {
        byte[] bytes = VolumeBuilder.Build("rrzzrrrr", seed: 9);
        using var volume = Volume(bytes);
        var pending = new PendingBlocks(new DirtyBitmap(volume.Geometry.BlockCount, VolumeBuilder.BlockSize));
        pending.Add(0, 8);
        var builder = new FrameBuilder(volume, pending);
        var frame = new PreparedFrame();

        builder.Fill(frame, 3 * VolumeBuilder.BlockSize);
        Assert.Equal((5L, 2L, 3 * VolumeBuilder.BlockSize), (frame.Blocks, frame.ZeroBlocks, frame.RawLength));
        Assert.Equal(bytes.AsSpan(0, 2 * 4096).ToArray().Concat(bytes.AsSpan(4 * 4096, 4096).ToArray()), frame.Raw.AsSpan(0, frame.RawLength).ToArray());
        builder.Fill(frame, 3 * VolumeBuilder.BlockSize);
        Assert.Equal([new DataRun(5, 3, false)], frame.Runs.AsSpan(0, frame.RunCount).ToArray());
        Assert.Equal(0, pending.Outstanding);
    }

    [Theory]
    [InlineData(12_500_000L, ProtocolConstants.MaxBatchBytes)] // 100 Mbit/s: the full 1 MiB frame
    [InlineData(1_048_576L, 104_857)]                         // 8 Mbit/s: 100 ms of it
    [InlineData(65_536L, 16 * 1024)]                          // slower: never below 16 KiB
    public void A_paced_frame_carries_about_100_ms_of_the_rate(long bytesPerSecond, int expected)
    {
        Assert.Equal(expected, DataFramePipeline.MaxFrameBytes(new TokenBucket(ByteRate.FromBytesPerSecond(bytesPerSecond))));
        Assert.Equal(ProtocolConstants.MaxBatchBytes, DataFramePipeline.MaxFrameBytes(null));
    }

    [Fact]
    public void A_frame_out_of_runs_hands_the_rest_back_and_the_next_frame_continues_there()
    {
        // Alternating data and zero blocks: every block is a run, and a frame holds at most 256 runs.
        byte[] bytes = new byte[600 * 512];
        var random = new Random(2);
        for (int b = 0; b < 600; b += 2)
            random.NextBytes(bytes.AsSpan(b * 512, 512));
        using var volume = Volume(bytes, blockSize: 512);
        long blocks = volume.Geometry.BlockCount;
        var pending = new PendingBlocks(new DirtyBitmap(blocks, 512));
        pending.Add(0, blocks);
        var builder = new FrameBuilder(volume, pending);
        var frame = new PreparedFrame();

        builder.Fill(frame, ProtocolConstants.MaxBatchBytes);
        Assert.Equal(ProtocolConstants.MaxRunsPerBatch, frame.RunCount);
        Assert.Equal(ProtocolConstants.MaxRunsPerBatch, frame.Blocks);
        Assert.Equal(blocks - ProtocolConstants.MaxRunsPerBatch, pending.Outstanding);

        builder.Fill(frame, ProtocolConstants.MaxBatchBytes);
        Assert.Equal(ProtocolConstants.MaxRunsPerBatch, frame.Runs[0].Start);
        long total = ProtocolConstants.MaxRunsPerBatch + frame.Blocks;
        while (pending.Outstanding > 0)
        {
            builder.Fill(frame, ProtocolConstants.MaxBatchBytes);
            total += frame.Blocks;
        }

        Assert.Equal(blocks, total);
    }
}
