using System.Buffers;
using System.IO.Pipelines;

namespace Teleport.Transfer.Protocol;

/// <summary>
/// Framing layer, receive side: cuts the byte stream into frames. Knows nothing of message contents beyond
/// the header; a frame that is oversized, has reserved bits set or ends early is an error here.
/// A payload spanning pipe segments is copied into one reusable buffer, so reading allocates nothing per frame.
/// It reads from the stream when a frame is wanted; after <see cref="StartReadAhead"/> a pump keeps draining the
/// stream (up to a limit) while the caller is busy with a frame, so the sender's TCP window stays open instead of the
/// link idling for the length of the work. Until <see cref="Authenticated"/> it accepts only handshake-sized frames
/// and buffers a few kilobytes, so an unauthenticated peer announcing a huge frame is refused at its header.
/// </summary>
internal sealed class FrameReader : IAsyncDisposable
{
    private const int SegmentSize = 64 * 1024;
    private const int HandshakeBufferSize = 4096;

    private readonly Stream _stream;
    private byte[]? _assembly;
    private int _maxPayload = ProtocolConstants.MaxHandshakePayload;
    private PipeReader _reader;
    private CancellationTokenSource? _pumpStop;
    private Task _pump = Task.CompletedTask;
    private volatile Exception? _pumpError;
    private SequencePosition? _consumed;
    private ReadOnlySequence<byte> _buffer;

    // PeekBuffered: its own assembly buffer (the returned frame's payload may live in _assembly) and how far it looked.
    private byte[]? _peekAssembly;
    private long _peekedThrough;

    /// <param name="stream">The connection; left open.</param>
    public FrameReader(Stream stream)
    {
        _stream = stream;
        _reader = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: HandshakeBufferSize, minimumReadSize: HandshakeBufferSize / 2, leaveOpen: true));
    }

    /// <summary>The peer proved who it is: from now on frames up to <see cref="ProtocolConstants.MaxPayload"/> are read.</summary>
    public void Authenticated() => _maxPayload = ProtocolConstants.MaxPayload;

    /// <summary>
    /// From now on reads ahead up to <paramref name="bytes"/> (at least two frames). Only for an authenticated peer:
    /// a stranger must not make us buffer megabytes. Bytes already buffered carry over; the payload of the last frame
    /// returned is released (call this between frames).
    /// </summary>
    public void StartReadAhead(int bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bytes);
        if (_pumpStop is not null)
            throw new InvalidOperationException("read-ahead has already started");

        // A frame must fit below the pause threshold, or the pump would stop short of completing it.
        long pause = Math.Max(bytes, 2L * (ProtocolConstants.HeaderSize + ProtocolConstants.MaxPayload));
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: pause, resumeWriterThreshold: pause / 2,
            minimumSegmentSize: SegmentSize, useSynchronizationContext: false));
        if (_consumed is { } consumed)
        {
            _reader.AdvanceTo(consumed);
            _consumed = null;
        }

        if (_reader.TryRead(out var leftover))
        {
            foreach (var segment in leftover.Buffer)
                pipe.Writer.Write(segment.Span);
            _reader.AdvanceTo(leftover.Buffer.End);
        }

        _reader.Complete();
        _reader = pipe.Reader;
        _buffer = default;
        _pumpStop = new CancellationTokenSource();
        _pump = Task.Run(() => PumpAsync(pipe.Writer, _pumpStop.Token));
    }

    private async Task PumpAsync(PipeWriter writer, CancellationToken ct)
    {
        try
        {
            // Bytes carried over from the on-demand reader become visible first.
            await writer.FlushAsync(ct).ConfigureAwait(false);
            while (true)
            {
                int n = await _stream.ReadAsync(writer.GetMemory(SegmentSize), ct).ConfigureAwait(false);
                if (n == 0)
                    break;
                writer.Advance(n);
                var flushed = await writer.FlushAsync(ct).ConfigureAwait(false);
                if (flushed.IsCompleted || flushed.IsCanceled)
                    break;
            }
        }
        catch (Exception e)
        {
            // Kept for the reader, which first takes the whole frames that arrived before the failure (an Error frame
            // just before a reset must not be lost); a pipe completed with the exception would throw them away.
            _pumpError = e;
        }

        await writer.CompleteAsync().ConfigureAwait(false);
    }

    /// <summary>Releases the pump's cancellation source once the pump has stopped (after <see cref="CompleteAsync"/>).</summary>
    public async ValueTask DisposeAsync()
    {
        await _pump.ConfigureAwait(false);
        _pumpStop?.Dispose();
    }

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
            if (TryTakeFrame(out var frame))
                return frame;

            if (result.IsCompleted || result.IsCanceled)
            {
                long have = _buffer.Length;
                _reader.AdvanceTo(_buffer.End);
                if (_pumpError is { } failure)
                    throw TransferException.Lost($"connection failed while reading: {failure.Message}", failure);

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
        var header = FrameHeader.Read(headerBytes, _maxPayload);
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
            // Sized by the limit in force, so before authentication it stays small.
            if (_assembly is null || _assembly.Length < header.Length)
                _assembly = new byte[_maxPayload];
            payload.CopyTo(_assembly);
            memory = _assembly.AsMemory(0, header.Length);
        }

        // Consumption is deferred to the next read so the payload memory stays valid until then.
        _consumed = _buffer.GetPosition(total);
        BytesRead += total;
        DataChannelMetrics.Received(total);
        frame = new Frame(header.Type, header.Flags, memory);
        return true;
    }

    /// <summary>
    /// Shows the whole frames of <paramref name="type"/> already buffered behind the frame last returned, oldest first
    /// and each once, without taking them: the caller acts early on what is coming (they are returned by
    /// <see cref="ReadAsync"/> as usual). Stops at the first incomplete or malformed frame (its read reports it), or when
    /// <paramref name="visit"/> returns false (that frame is shown again next time).
    /// </summary>
    public void PeekBuffered(MessageType type, PayloadVisitor visit)
    {
        if (_consumed is not { } consumed)
            return;
        long at = BytesRead;
        var rest = _buffer.Slice(consumed);
        Span<byte> headerBytes = stackalloc byte[ProtocolConstants.HeaderSize];
        while (rest.Length >= ProtocolConstants.HeaderSize)
        {
            rest.Slice(0, ProtocolConstants.HeaderSize).CopyTo(headerBytes);
            if (!FrameHeader.TryRead(headerBytes, _maxPayload, out var header))
                return;
            long total = ProtocolConstants.HeaderSize + (long)header.Length;
            if (rest.Length < total)
                return;
            if (header.Type == type && at + total > _peekedThrough && !visit(Assemble(rest.Slice(ProtocolConstants.HeaderSize, header.Length))))
                return;
            at += total;
            _peekedThrough = Math.Max(_peekedThrough, at);
            rest = rest.Slice(total);
        }
    }

    private ReadOnlySpan<byte> Assemble(in ReadOnlySequence<byte> payload)
    {
        if (payload.IsSingleSegment)
            return payload.FirstSpan;
        if (_peekAssembly is null || _peekAssembly.Length < payload.Length)
            _peekAssembly = new byte[_maxPayload];
        payload.CopyTo(_peekAssembly);
        return _peekAssembly.AsSpan(0, (int)payload.Length);
    }

    /// <summary>Stops reading. With read-ahead, the pump ends once its pending read returns (the caller closes the stream).</summary>
    public async ValueTask CompleteAsync()
    {
        if (_pumpStop is not null)
            await _pumpStop.CancelAsync().ConfigureAwait(false);
        await _reader.CompleteAsync().ConfigureAwait(false);
    }
}

/// <summary>A frame's payload shown by <see cref="FrameReader.PeekBuffered"/>; returns whether to go on.</summary>
internal delegate bool PayloadVisitor(ReadOnlySpan<byte> payload);
