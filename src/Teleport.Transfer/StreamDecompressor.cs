using ZstdSharp;
using ZstdSharp.Unsafe;

namespace Teleport.Transfer;

/// <summary>
/// The destination's side of one connection's zstd stream. Each compressed Data frame must decode to exactly its
/// announced raw length with nothing left over; a window above 2^<see cref="Protocol.ProtocolConstants.MaxWindowLog"/>,
/// corrupt input or a length mismatch is a bad frame.
/// </summary>
internal sealed class StreamDecompressor : IDisposable
{
    private readonly Decompressor _zstd = new();
    private readonly byte[] _probe = new byte[1];

    public StreamDecompressor() => _zstd.SetParameter(ZSTD_dParameter.ZSTD_d_windowLogMax, Protocol.ProtocolConstants.MaxWindowLog);

    public void Decompress(ReadOnlySpan<byte> compressed, Span<byte> destination)
    {
        int consumed = 0, written = 0;
        try
        {
            while (true)
            {
                _zstd.UnwrapStream(compressed[consumed..], destination[written..], out int used, out int produced);
                consumed += used;
                written += produced;
                if (used == 0 && produced == 0)
                    break;
                if (consumed == compressed.Length && written == destination.Length)
                    break;
            }

            if (consumed != compressed.Length || written != destination.Length)
                throw new TransferException(TransferErrorCode.BadFrame,
                    $"compressed block data expands to {written} bytes from {consumed} of {compressed.Length} input bytes, announced {destination.Length}");
            // Output the source flushed into this frame must all be in it: nothing may wait for the next one.
            _zstd.UnwrapStream(ReadOnlySpan<byte>.Empty, _probe, out _, out int extra);
            if (extra != 0)
                throw new TransferException(TransferErrorCode.BadFrame, $"compressed block data expands past the announced {destination.Length} bytes");
        }
        catch (ZstdException e)
        {
            throw new TransferException(TransferErrorCode.BadFrame, $"compressed block data is corrupt: {e.Message}", inner: e);
        }
    }

    public void Dispose() => _zstd.Dispose();
}
