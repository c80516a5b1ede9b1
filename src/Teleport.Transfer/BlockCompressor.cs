using ZstdSharp;

namespace Teleport.Transfer;

/// <summary>
/// zstd per batch with one reusable context each way. A batch whose compressed form is not smaller than the raw
/// bytes is sent raw, so incompressible data costs nothing extra. Level 0 disables compression.
/// </summary>
internal sealed class BlockCompressor : IDisposable
{
    private readonly Compressor? _compressor;
    private readonly Decompressor _decompressor = new();

    public BlockCompressor(int level)
    {
        if (level != 0)
        {
            if (level < Compressor.MinCompressionLevel || level > Compressor.MaxCompressionLevel)
                throw new ArgumentOutOfRangeException(nameof(level), level,
                    $"zstd level must be 0 (off) or {Compressor.MinCompressionLevel}..{Compressor.MaxCompressionLevel}");
            _compressor = new Compressor(level);
        }
    }

    public static int Bound(int rawLength) => Compressor.GetCompressBound(rawLength);

    /// <summary>Compresses into <paramref name="destination"/>; returns the length, or -1 when raw is as small or smaller.</summary>
    public int TryCompress(ReadOnlySpan<byte> raw, Span<byte> destination)
    {
        if (_compressor is null || raw.Length == 0)
            return -1;
        int limit = Math.Min(destination.Length, raw.Length - 1);
        if (limit <= 0)
            return -1;
        // A destination smaller than the bound makes zstd give up early on incompressible input: exactly what we want.
        return _compressor.TryWrap(raw, destination[..limit], out int written) ? written : -1;
    }

    /// <summary>Decompresses exactly <paramref name="destination"/>.Length bytes; anything else is a bad frame.</summary>
    public void Decompress(ReadOnlySpan<byte> compressed, Span<byte> destination)
    {
        int written;
        try
        {
            if (!_decompressor.TryUnwrap(compressed, destination, out written))
                throw new TransferException(TransferErrorCode.BadFrame, $"compressed block data expands past the announced {destination.Length} bytes");
        }
        catch (ZstdException e)
        {
            throw new TransferException(TransferErrorCode.BadFrame, $"compressed block data is corrupt: {e.Message}", inner: e);
        }

        if (written != destination.Length)
            throw new TransferException(TransferErrorCode.BadFrame, $"compressed block data expands to {written} bytes, announced {destination.Length}");
    }

    public void Dispose()
    {
        _compressor?.Dispose();
        _decompressor.Dispose();
    }
}
