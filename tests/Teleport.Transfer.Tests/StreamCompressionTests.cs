using System.Security.Cryptography;
using Teleport.Transfer.Protocol;

namespace Teleport.Transfer.Tests;

/// <summary>The per-connection zstd stream: frames decode one by one, history carries across them, bad input is a bad frame.</summary>
public class StreamCompressionTests
{
    private static byte[] Text(int length, int seed)
    {
        var random = new Random(seed);
        string[] words = new[] { "volume", "block", "index", "teleport", "migration", "fingerprint", "zstd", "stream" };
        byte[] bytes = new byte[length];
        int at = 0;
        while (at < length)
        {
            string word = words[random.Next(words.Length)];
            for (int i = 0; i < word.Length && at < length; i++)
                bytes[at++] = (byte)word[i];
            if (at < length)
                bytes[at++] = (byte)' ';
        }

        return bytes;
    }

    private static (int Length, byte[] Output) Compress(StreamCompressor compressor, byte[] raw)
    {
        byte[] output = new byte[StreamCompressor.Bound(raw.Length)];
        int n = compressor.Compress(raw, output);
        return (n, output[..n]);
    }

    [Fact]
    public void Frames_decode_one_by_one_and_repeated_content_costs_almost_nothing_later_in_the_stream()
    {
        using var compressor = new StreamCompressor(3, 24);
        using var decompressor = new StreamDecompressor();
        byte[] random = RandomNumberGenerator.GetBytes(256 * 1024);
        byte[] text = Text(256 * 1024, 1);

        var (first, firstBytes) = Compress(compressor, random);
        byte[] back = new byte[random.Length];
        decompressor.Decompress(firstBytes, back);
        Assert.Equal(random, back);
        // Incompressible data goes as zstd raw blocks: a few bytes per 128 KiB, never more.
        Assert.InRange(first, random.Length, random.Length + 64);

        var (_, textBytes) = Compress(compressor, text);
        byte[] textBack = new byte[text.Length];
        decompressor.Decompress(textBytes, textBack);
        Assert.Equal(text, textBack);

        // The random megabyte again, one frame later: the stream's window remembers it.
        var (again, againBytes) = Compress(compressor, random);
        Assert.True(again < random.Length / 50, $"a repeat inside the window took {again} bytes");
        decompressor.Decompress(againBytes, back);
        Assert.Equal(random, back);
    }

    [Fact]
    public void A_level_change_starts_a_new_zstd_frame_the_decoder_follows()
    {
        using var compressor = new StreamCompressor(1, 22);
        using var decompressor = new StreamDecompressor();
        for (int i = 0; i < 4; i++)
        {
            if (i == 2)
                compressor.ChangeLevel(9);
            byte[] text = Text(200_000, i);
            var (_, bytes) = Compress(compressor, text);
            byte[] back = new byte[text.Length];
            decompressor.Decompress(bytes, back);
            Assert.Equal(text, back);
        }

        Assert.Equal(9, compressor.Level);
        Assert.Throws<ArgumentOutOfRangeException>(() => compressor.ChangeLevel(99));
        Assert.Throws<ArgumentOutOfRangeException>(() => new StreamCompressor(99, 22));
    }

    [Fact]
    public void A_frame_must_expand_to_exactly_its_announced_length()
    {
        byte[] text = Text(100_000, 3);
        foreach (int delta in new[] { -1, 1 })
        {
            using var compressor = new StreamCompressor(3, 22);
            using var decompressor = new StreamDecompressor();
            var (_, bytes) = Compress(compressor, text);
            var error = Assert.Throws<TransferException>(() => decompressor.Decompress(bytes, new byte[text.Length + delta]));
            Assert.Equal(TransferErrorCode.BadFrame, error.Code);
        }
    }

    [Fact]
    public void Corrupt_or_foreign_input_is_a_bad_frame()
    {
        using var decompressor = new StreamDecompressor();
        var error = Assert.Throws<TransferException>(() => decompressor.Decompress(RandomNumberGenerator.GetBytes(100), new byte[4096]));
        Assert.Equal(TransferErrorCode.BadFrame, error.Code);

        // A stream that continues another connection's history cannot decode on a fresh decoder.
        using var compressor = new StreamCompressor(3, 22);
        byte[] text = Text(100_000, 4);
        Compress(compressor, text);
        var (_, second) = Compress(compressor, text);
        using var fresh = new StreamDecompressor();
        Assert.Equal(TransferErrorCode.BadFrame, Assert.Throws<TransferException>(() => fresh.Decompress(second, new byte[text.Length])).Code);
    }

    [Fact]
    public void A_window_larger_than_the_protocol_allows_is_refused()
    {
        using var compressor = new ZstdSharp.Compressor(1);
        compressor.SetParameter(ZstdSharp.Unsafe.ZSTD_cParameter.ZSTD_c_windowLog, ProtocolConstants.MaxWindowLog + 1);
        byte[] text = Text(100_000, 5);
        byte[] output = new byte[StreamCompressor.Bound(text.Length)];
        compressor.WrapStream(text, output, out _, out int written, false);
        compressor.FlushStream(output.AsSpan(written), out int flushed);
        using var decompressor = new StreamDecompressor();
        var error = Assert.Throws<TransferException>(() => decompressor.Decompress(output.AsSpan(0, written + flushed), new byte[text.Length]));
        Assert.Equal(TransferErrorCode.BadFrame, error.Code);
    }

    [Theory]
    [InlineData(1L << 10, 20)]
    [InlineData(3L << 20, 22)]
    [InlineData(1L << 40, 27)]
    public void The_window_fits_the_volume(long volumeBytes, int windowLog) =>
        Assert.Equal(windowLog, StreamCompressor.WindowLogFor(volumeBytes, ProtocolConstants.MaxWindowLog));

    [Fact]
    public void The_adaptive_level_starts_from_the_rate_and_follows_the_bottleneck()
    {
        Assert.Equal(6, new CompressionLevelController(null, ByteRate.FromBitsPerSecond(100e6)).Level);
        Assert.Equal(1, new CompressionLevelController(null, ByteRate.FromBitsPerSecond(10e9)).Level);
        var fixedLevel = new CompressionLevelController(9, ByteRate.Unlimited);
        Assert.False(fixedLevel.Adaptive);
        for (int i = 0; i < 100; i++)
            Assert.False(fixedLevel.Record(1, 0, 1));
        Assert.Equal(9, fixedLevel.Level);

        // The link waits for compressed frames: level down, one rung per window of frames.
        var starved = new CompressionLevelController(null, ByteRate.FromBitsPerSecond(100e6));
        bool changed = false;
        for (int i = 0; i < CompressionLevelController.WindowFrames; i++)
            changed = starved.Record(0.010, 0.001, 0.005);
        Assert.True(changed);
        Assert.Equal(3, starved.Level);
        // ... but on a 100 Mbit/s link never below level 3; on an unlimited one down to the fastest.
        for (int i = 0; i < 3 * CompressionLevelController.WindowFrames; i++)
            starved.Record(0.010, 0.001, 0.005);
        Assert.Equal(3, starved.Level);
        var unlimited = new CompressionLevelController(null, ByteRate.Unlimited);
        for (int i = 0; i < 5 * CompressionLevelController.WindowFrames; i++)
            unlimited.Record(0.010, 0.001, 0.005);
        Assert.Equal(-5, unlimited.Level);

        // Spare CPU again right after: no climb back to the level that starved the link for a few windows.
        for (int i = 0; i < 2 * CompressionLevelController.WindowFrames; i++)
            starved.Record(0.002, 0.020, 0);
        Assert.Equal(3, starved.Level);
        for (int i = 0; i < 4 * CompressionLevelController.WindowFrames; i++)
            starved.Record(0.002, 0.020, 0);
        Assert.Equal(9, starved.Level);

        // Compressing takes far less time than the link needs: level up.
        var idle = new CompressionLevelController(null, ByteRate.FromBitsPerSecond(100e6));
        for (int i = 0; i < CompressionLevelController.WindowFrames; i++)
            idle.Record(0.002, 0.020, 0);
        Assert.Equal(9, idle.Level);
    }

    [Fact]
    public void Without_a_rate_limit_a_wan_round_trip_starts_and_holds_the_level_like_a_slow_link()
    {
        var wan = new CompressionLevelController(null, ByteRate.Unlimited);
        Assert.Equal(1, wan.Level);
        wan.ObservePath(TimeSpan.FromMilliseconds(50));
        Assert.Equal(6, wan.Level);
        // A second connection's round trip changes nothing: the level has been adapting since.
        wan.ObservePath(TimeSpan.FromMicroseconds(80));
        Assert.Equal(6, wan.Level);
        // Starving the link lowers it, but a WAN keeps level 3 as its floor.
        for (int i = 0; i < 6 * CompressionLevelController.WindowFrames; i++)
            wan.Record(0.010, 0.001, 0.005);
        Assert.Equal(3, wan.Level);

        var lan = new CompressionLevelController(null, ByteRate.Unlimited);
        lan.ObservePath(TimeSpan.FromMicroseconds(200));
        Assert.Equal(1, lan.Level);
        for (int i = 0; i < 5 * CompressionLevelController.WindowFrames; i++)
            lan.Record(0.010, 0.001, 0.005);
        Assert.Equal(-5, lan.Level);

        // A rate limit or a fixed level already says what the link is.
        var limited = new CompressionLevelController(null, ByteRate.FromBitsPerSecond(1e9));
        limited.ObservePath(TimeSpan.FromMilliseconds(50));
        Assert.Equal(1, limited.Level);
        var fixedLevel = new CompressionLevelController(2, ByteRate.Unlimited);
        fixedLevel.ObservePath(TimeSpan.FromMilliseconds(50));
        Assert.Equal(2, fixedLevel.Level);
    }
}
