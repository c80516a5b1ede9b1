using Teleport.Blocks;
using Teleport.Transfer.Protocol;

namespace Teleport.Transfer.Tests;

/// <summary>Protocol version 2 end to end: compact index, one zstd stream per connection, data during the index.</summary>
public class StreamingMigrationTests
{
    [Fact]
    public async Task Repeats_inside_the_volume_cross_once_as_short_index_entries_and_are_counted()
    {
        // 200 distinct random blocks, then 100 repeats of 'a' and 'b' and 50 zero blocks.
        string recipe = VolumeBuilder.Repeat("r", 200) + VolumeBuilder.Repeat("ab", 50) + VolumeBuilder.Repeat("z", 50);
        using var m = new Migration(VolumeBuilder.Build(recipe, seed: 31));

        var (source, destination) = await m.RunAsync(m.Destination(), ep => m.Source(ep));

        m.AssertEqualVolumes();
        Assert.Equal(202, destination.BlocksSent);
        Assert.Equal(98, destination.BlocksFromVolume);
        Assert.Equal(98, source.BlocksFromVolume);
        Assert.Equal(50, destination.ZeroBlocks);
        // 202 fingerprint prefixes (17 B), 98 repeats (2 B: tag + varint) and one zero run, plus frame headers.
        Assert.InRange(source.IndexBytes, 202 * 17 + 98 * 2, 202 * 17 + 98 * 2 + 200);
    }

    [Fact]
    public async Task Compressible_data_crosses_in_one_zstd_stream_that_reaches_across_frames()
    {
        // The same 2 MiB of text twice, 4 MiB apart: per-frame compression would pay twice, the stream's window once.
        string text = VolumeBuilder.Repeat("t", 512);
        byte[] half = VolumeBuilder.Build(text, seed: 41);
        byte[] volume = [.. half, .. VolumeBuilder.Build(VolumeBuilder.Repeat("r", 512), seed: 42), .. half];
        // Different fingerprints for the second copy (so it is not a repeat): flip one byte per block.
        for (int b = 1024; b < 1536; b++)
            volume[b * VolumeBuilder.BlockSize] ^= 0xFF;
        using var m = new Migration(volume);

        var (source, _) = await m.RunAsync(m.Destination(), ep => m.Source(ep, o => o with { CompressionLevel = 3 }));

        m.AssertEqualVolumes();
        long randomBytes = 512L * VolumeBuilder.BlockSize;
        long textBytes = 512L * VolumeBuilder.BlockSize;
        long firstCopy = source.DataBytes - randomBytes;
        // The random part costs its size (plus headers); the two text parts together cost little more than one.
        Assert.True(firstCopy < textBytes, $"text did not compress: {source.DataBytes} data bytes");
        Assert.True(source.DataBytes < randomBytes + textBytes / 2, $"the second copy was not found in the window: {source.DataBytes} data bytes");
    }

    [Fact]
    public async Task The_adaptive_level_compresses_and_verifies()
    {
        using var m = new Migration(VolumeBuilder.Build(VolumeBuilder.Repeat("tttr", 200), seed: 43));
        var (source, destination) = await m.RunAsync(m.Destination(),
            ep => m.Source(ep, o => o with { Bandwidth = ByteRate.FromBitsPerSecond(1e9) }));
        m.AssertEqualVolumes();
        Assert.True(source.Verified && destination.Verified);
        Assert.True(source.DataBytes < 800L * VolumeBuilder.BlockSize * 3 / 4, $"{source.DataBytes} data bytes");
    }

    [Fact]
    public async Task Data_sent_between_index_batches_leaves_every_block_intact()
    {
        // Several index batches (~2000 entries each) with requests answered while the scan of a chunk is under way.
        using var m = new Migration(VolumeBuilder.Build(VolumeBuilder.Repeat("rrrrrrrrrrrrrrtttta", 350), seed: 59));
        var (source, destination) = await m.RunAsync(m.Destination(),
            ep => m.Source(ep, o => o with { Bandwidth = ByteRate.FromBitsPerSecond(400e6), CompressionLevel = 1 }));
        m.AssertEqualVolumes();
        Assert.True(source.Verified && destination.Verified);
        Assert.Equal(349, destination.BlocksFromVolume);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(5)]
    internal async Task A_connection_cut_mid_stream_resumes_with_a_fresh_zstd_stream(int cutAtDataFrame)
    {
        using var m = new Migration(VolumeBuilder.Build(VolumeBuilder.Repeat("ttttttttr", 400) + "zz", seed: 47, tail: 77));
        FrameCuttingProxy? proxy = null;
        try
        {
            var (source, destination) = await m.RunAsync(
                m.Destination(o => o with { CheckpointBytes = 512 * 1024 }),
                ep => m.Source(ep, o => o with { CompressionLevel = 3, MaxUnackedBytes = 1 << 20 }),
                connectTo: ep => (proxy = new FrameCuttingProxy(ep, MessageType.Data, cutAtDataFrame)).EndPoint);

            Assert.True(proxy!.HasCut);
            Assert.True(source.Reconnects >= 1);
            Assert.True(source.Verified && destination.Verified);
            m.AssertEqualVolumes();
            // Frames after the reconnect were compressed too (the second stream decoded from its own start).
            Assert.True(source.DataBytes < source.BlocksSent * VolumeBuilder.BlockSize * 3 / 4, $"{source.DataBytes} data bytes for {source.BlocksSent} blocks");
        }
        finally
        {
            if (proxy is not null)
                await proxy.DisposeAsync();
        }
    }
}
