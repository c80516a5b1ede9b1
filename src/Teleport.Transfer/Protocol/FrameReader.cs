using System.Buffers;
using System.IO.Pipelines;

namespace Teleport.Transfer.Protocol;

/// <summary>
/// Framing layer, receive side: cuts the byte stream into frames. Knows nothing of message contents beyond
/// the header; a frame that is oversized, has reserved bits set or ends early is an error here.
/// A payload spanning pipe segments is copied into one reusable buffer, so reading allocates nothing per frame.
/// </summary>
internal sealed class FrameReader
{
    private readonly PipeReader _reader;
    private readonly byte[] _assembly = new byte[ProtocolConstants.MaxPayload];
    private SequencePosition? _consumed;
    private ReadOnlySequence<byte> _buffer;

    public FrameReader(Stream stream) => _reader = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 256 * 1024, minimumReadSize: 64 * 1024, leaveOpen: true));

    /// <summary>Bytes of all frames returned so far (headers included).</summary>
    public long BytesRead { get; private set; }

    /// <summary>Reads the next frame; throws <see cref="TransferException"/> (ConnectionLost) at end of stream.</summary>
    public async ValueTask<Frame> ReadAsync(CancellationToken cancellationToken)
    {
        if (_consumed is { } consumed)
        {
            _reader.AdvanceTo(consumed);
            _consumed = null;
        }

        while (true)
        {
            ReadResult result;
            try
            {
                result = await _reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (IOException e)
            {
                throw TransferException.Lost($"connection failed while reading: {e.Message}", e);
            }

            _buffer = result.Buffer;
            if (TryTakeFrame(out Frame frame))
                return frame;

            if (result.IsCompleted || result.IsCanceled)
            {
                long have = _buffer.Length;
                _reader.AdvanceTo(_buffer.End);
                if (have == 0)
                    throw TransferException.Lost("connection closed by peer");
                throw TransferException.Lost($"connection closed in the middle of a frame ({have} bytes of it received)");
            }

            _reader.AdvanceTo(_buffer.Start, _buffer.End);
        }
    }

    private bool TryTakeFrame(out Frame frame)
    {
        frame = default;
        if (_buffer.Length < ProtocolConstants.HeaderSize)
            return false;

        Span<byte> headerBytes = stackalloc byte[ProtocolConstants.HeaderSize];
        _buffer.Slice(0, ProtocolConstants.HeaderSize).CopyTo(headerBytes);
        var header = FrameHeader.Read(headerBytes);
        long total = ProtocolConstants.HeaderSize + (long)header.Length;
        if (_buffer.Length < total)
            return false;

        var payload = _buffer.Slice(ProtocolConstants.HeaderSize, header.Length);
        ReadOnlyMemory<byte> memory;
        if (payload.IsSingleSegment)
        {
            memory = payload.First;
        }
        else
        {
            payload.CopyTo(_assembly);
            memory = _assembly.AsMemory(0, header.Length);
        }

        // Consumption is deferred to the next read so the payload memory stays valid until then.
        _consumed = _buffer.GetPosition(total);
        BytesRead += total;
        frame = new Frame(header.Type, header.Flags, memory);
        return true;
    }

    public ValueTask CompleteAsync() => _reader.CompleteAsync();
}
