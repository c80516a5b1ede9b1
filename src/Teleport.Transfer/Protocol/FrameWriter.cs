using System.IO.Pipelines;

namespace Teleport.Transfer.Protocol;

/// <summary>
/// Framing layer, send side: writes header + payload straight into the pipe's memory (no intermediate copies)
/// and flushes. An optional <see cref="TokenBucket"/> paces the bytes put on the wire. One writer per connection,
/// used by one task at a time unless <see cref="AllowConcurrentSenders"/> was called.
/// </summary>
internal sealed class FrameWriter
{
    private readonly PipeWriter _writer;
    private readonly TokenBucket? _pacer;
    private Memory<byte> _pending;
    private SemaphoreSlim? _exclusive;

    public FrameWriter(Stream stream, TokenBucket? pacer)
    {
        // Small by default: handshake replies to a stranger take kilobytes; a large frame asks for its own size.
        _writer = PipeWriter.Create(stream, new StreamPipeWriterOptions(minimumBufferSize: 4096, leaveOpen: true));
        _pacer = pacer;
    }

    /// <summary>Bytes of all frames written so far (headers included).</summary>
    public long BytesWritten { get; private set; }

    /// <summary>
    /// Lets a second task send whole frames (the destination's urgent requests beside its phase loop): from now on a
    /// frame holds the writer from <see cref="GetPayloadSpan"/> to the end of its flush. Call before the second task starts.
    /// </summary>
    public void AllowConcurrentSenders() => _exclusive ??= new SemaphoreSlim(1, 1);

    /// <summary>Memory to build a payload of at most <paramref name="maxPayload"/> bytes into; finish with <see cref="CommitAsync"/>.</summary>
    public Span<byte> GetPayloadSpan(int maxPayload)
    {
        if (maxPayload > ProtocolConstants.MaxPayload)
            throw new ArgumentOutOfRangeException(nameof(maxPayload));
        // Destination frames are small and unpaced: the other sender holds the writer for one short flush at most.
        _exclusive?.Wait();
        _pending = _writer.GetMemory(ProtocolConstants.HeaderSize + maxPayload);
        return _pending.Span[ProtocolConstants.HeaderSize..];
    }

    /// <summary>Writes the header in front of the payload built in <see cref="GetPayloadSpan"/> and sends the frame.</summary>
    public async ValueTask CommitAsync(MessageType type, byte flags, int payloadLength, CancellationToken cancellationToken)
    {
        try
        {
            Commit(type, flags, payloadLength);
            await FlushAsync(ProtocolConstants.HeaderSize + payloadLength, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _exclusive?.Release();
        }
    }

    /// <summary>Sends a frame whose payload is already in a buffer.</summary>
    public ValueTask SendAsync(MessageType type, ReadOnlySpan<byte> payload, CancellationToken cancellationToken)
    {
        payload.CopyTo(GetPayloadSpan(payload.Length));
        return CommitAsync(type, 0, payload.Length, cancellationToken);
    }

    private void Commit(MessageType type, byte flags, int payloadLength)
    {
        if (_pending.Length < ProtocolConstants.HeaderSize + payloadLength)
            throw new InvalidOperationException("payload longer than the span taken from GetPayloadSpan");
        new FrameHeader(payloadLength, type, flags).Write(_pending.Span);
        _pending = default;
        _writer.Advance(ProtocolConstants.HeaderSize + payloadLength);
    }

    private async ValueTask FlushAsync(int frameBytes, CancellationToken cancellationToken)
    {
        BytesWritten += frameBytes;
        DataChannelMetrics.Sent(frameBytes);
        if (_pacer is not null)
            await _pacer.AcquireAsync(frameBytes, cancellationToken).ConfigureAwait(false);
        try
        {
            var result = await _writer.FlushAsync(cancellationToken).ConfigureAwait(false);
            if (result.IsCompleted)
                throw TransferException.Lost("connection closed by peer while sending");
        }
        catch (IOException e)
        {
            throw TransferException.Lost($"connection failed while sending: {e.Message}", e);
        }
    }

    public ValueTask CompleteAsync() => _writer.CompleteAsync();
}
