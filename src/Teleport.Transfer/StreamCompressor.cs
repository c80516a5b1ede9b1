using System.Buffers;
using ZstdSharp;
using ZstdSharp.Unsafe;

namespace Teleport.Transfer;

/// <summary>
/// The source's zstd stream for one connection: every compressed Data frame continues it (long-distance matching over
/// a window of up to 128 MiB, so content repeating far apart in the volume compresses), flushed at the end of each
/// frame so the destination can apply the frame on its own. A level change ends the current zstd frame and starts the
/// next at the new level (single-threaded zstd applies a level only at a frame start), losing the window once.
/// </summary>
internal sealed class StreamCompressor : IDisposable
{
    private readonly Compressor _zstd;
    private readonly int _windowLog;
    private int _pendingLevel;

    public StreamCompressor(int level, int windowLog)
    {
        ValidateLevel(level);
        if (level == 0)
            throw new ArgumentOutOfRangeException(nameof(level), "level 0 means no compression: use no compressor");
        _windowLog = windowLog;
        _zstd = new Compressor(level);
        Configure(level);
        Level = _pendingLevel = level;
    }

    public int Level { get; private set; }

    /// <summary>Largest output of <see cref="Compress"/> for <paramref name="rawLength"/> bytes (incompressible data plus a frame change).</summary>
    public static int Bound(int rawLength) => Compressor.GetCompressBound(rawLength) + 64;

    public static void ValidateLevel(int level)
    {
        if (level != 0 && (level < Compressor.MinCompressionLevel || level > Compressor.MaxCompressionLevel))
            throw new ArgumentOutOfRangeException(nameof(level), level,
                $"zstd level must be 0 (off) or {Compressor.MinCompressionLevel}..{Compressor.MaxCompressionLevel}");
    }

    /// <summary>Window for a volume: no larger than the volume (small volumes need no 128 MiB buffers), at most 2^27.</summary>
    public static int WindowLogFor(long volumeBytes, int maxWindowLog)
    {
        int log = 20;
        while (log < maxWindowLog && (1L << log) < volumeBytes)
            log++;
        return Math.Min(log, maxWindowLog);
    }

    /// <summary>Takes effect at the next <see cref="Compress"/>, which then starts a new zstd frame.</summary>
    public void ChangeLevel(int level)
    {
        ValidateLevel(level);
        if (level == 0)
            throw new ArgumentOutOfRangeException(nameof(level), "the stream cannot switch to level 0");
        _pendingLevel = level;
    }

    /// <summary>Compresses <paramref name="raw"/> as the next piece of the stream; returns the bytes written.</summary>
    public int Compress(ReadOnlySpan<byte> raw, Span<byte> destination)
    {
        int written = 0;
        if (_pendingLevel != Level)
        {
            // End the running zstd frame; the destination's decoder continues with the next frame in the same stream.
            written += Drain(destination, final: true);
            _zstd.SetParameter(ZSTD_cParameter.ZSTD_c_compressionLevel, _pendingLevel);
            Configure(_pendingLevel);
            Level = _pendingLevel;
        }

        int consumed = 0;
        while (consumed < raw.Length)
        {
            var status = _zstd.WrapStream(raw[consumed..], destination[written..], out int used, out int produced, false);
            consumed += used;
            written += produced;
            if (status == OperationStatus.DestinationTooSmall && produced == 0 && used == 0)
                throw new InvalidOperationException("compression buffer too small");
        }

        return written + Drain(destination[written..], final: false);
    }

    private int Drain(Span<byte> destination, bool final)
    {
        int written = 0;
        while (true)
        {
            var status = _zstd.FlushStream(destination[written..], out int produced, final);
            written += produced;
            if (status == OperationStatus.Done)
                return written;
            if (produced == 0)
                throw new InvalidOperationException($"zstd flush made no progress ({status})");
        }
    }

    private void Configure(int level)
    {
        _zstd.SetParameter(ZSTD_cParameter.ZSTD_c_windowLog, _windowLog);
        // Long-distance matching pays from level 1 up on volumes (files repeat far apart); it is what the window is for.
        _zstd.SetParameter(ZSTD_cParameter.ZSTD_c_enableLongDistanceMatching, level >= 1 ? 1 : 0);
    }

    public void Dispose() => _zstd.Dispose();
}
