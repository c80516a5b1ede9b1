using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;
using Teleport.Nbd.Protocol;
using Teleport.Nbd.Tls;

namespace Teleport.Nbd.Client;

/// <summary>
/// An NBD client for one export over TCP or a Unix domain socket. Any number of calls may run at once
/// (up to <see cref="NbdClientOptions.MaxInFlightRequests"/> on the wire, matched by cookie); replies may
/// arrive in any order. A server error throws <see cref="NbdCommandException"/> and leaves the connection
/// usable; a broken connection fails every call with <see cref="NbdConnectionException"/>.
/// Cancellation applies while a call waits to be sent; once sent, a request runs to its reply.
/// </summary>
public sealed class NbdClient : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly Stream _stream;
    private readonly PipeReader _reader;
    private readonly NbdPendingRequest[] _slots;
    private readonly Stack<int> _freeSlots;
    private readonly SemaphoreSlim _slotsAvailable;
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly byte[] _replyScratch = new byte[16];
    private readonly Task _replyLoop;
    private Exception? _failure;
    private int _disconnected;

    private NbdClient(NbdClientChannel channel, NbdExportDetails export, bool structured, NbdClientOptions options)
    {
        _socket = channel.Socket;
        _stream = channel.Stream;
        _reader = channel.Reader;
        Export = export;
        StructuredReplies = structured;
        _slots = new NbdPendingRequest[options.MaxInFlightRequests];
        _freeSlots = new Stack<int>(options.MaxInFlightRequests);
        for (int i = options.MaxInFlightRequests - 1; i >= 0; i--)
        {
            _slots[i] = new NbdPendingRequest(i);
            _freeSlots.Push(i);
        }

        _slotsAvailable = new SemaphoreSlim(options.MaxInFlightRequests, options.MaxInFlightRequests);
        _replyLoop = Task.Run(ReceiveRepliesAsync);
    }

    /// <summary>The export as described by the server.</summary>
    public NbdExportDetails Export { get; }

    public long Size => Export.Size;

    /// <summary>True once the connection failed or was closed (by either side): no request can be sent on it.</summary>
    public bool Closed => Volatile.Read(ref _failure) is not null;

    /// <summary>True when the server agreed to structured replies.</summary>
    public bool StructuredReplies { get; }

    /// <summary>Connects, negotiates and selects <paramref name="exportName"/> with NBD_OPT_GO.</summary>
    /// <exception cref="NbdOptionException">The server refused (e.g. <see cref="NbdOptionReplyType.ErrorUnknown"/>).</exception>
    public static async Task<NbdClient> ConnectAsync(EndPoint endPoint, string exportName, NbdClientOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(exportName);
        var parked = await NbdParkedConnection.OpenAsync(endPoint, options, cancellationToken).ConfigureAwait(false);
        return await parked.GoAsync(exportName, cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    internal static void CheckOptions(NbdClientOptions options)
    {
        if (options.MaxInFlightRequests is < 1 or > 65536)
        {
            throw new ArgumentOutOfRangeException(nameof(options), "MaxInFlightRequests must be 1..65536.");
        }

        if (options.ExportWait < TimeSpan.Zero || options.ExportPollInterval <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(options), "ExportWait must not be negative and ExportPollInterval must be positive.");
        }
    }

    /// <summary>Selects the export on a negotiated channel; the client owns the channel from then on.</summary>
    internal static async Task<NbdClient> GoAsync(NbdClientChannel channel, string exportName, bool structured, NbdClientOptions options, TimeSpan wait,
        CancellationToken cancellationToken)
    {
        var export = await GoWaitingAsync(channel.Handshake, exportName, options, wait, cancellationToken).ConfigureAwait(false);
        return new NbdClient(channel, export, structured, options);
    }

    private static async Task<NbdExportDetails> GoWaitingAsync(NbdClientHandshake handshake, string exportName, NbdClientOptions options, TimeSpan wait,
        CancellationToken cancellationToken)
    {
        long started = Stopwatch.GetTimestamp();
        while (true)
        {
            try
            {
                return await handshake.GoAsync(exportName, options.DefaultMaxPayload, cancellationToken).ConfigureAwait(false);
            }
            // Only an NBD_OPT_GO refusal leaves the connection in option haggling (an NBD_OPT_EXPORT_NAME refusal closes it).
            catch (NbdOptionException e) when (e.Option == NbdOption.Go && e.Reply == NbdOptionReplyType.ErrorUnknown &&
                                               Stopwatch.GetElapsedTime(started) + options.ExportPollInterval <= wait)
            {
                await Task.Delay(options.ExportPollInterval, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Lists the server's exports (NBD_OPT_LIST) and closes the connection.</summary>
    public static Task<IReadOnlyList<NbdExportEntry>> ListExportsAsync(EndPoint endPoint, CancellationToken cancellationToken = default) =>
        ListExportsAsync(endPoint, null, cancellationToken);

    /// <summary>Lists the exports the server shows us (NBD_OPT_LIST), over TLS with <paramref name="tls"/>, and closes the connection.</summary>
    public static async Task<IReadOnlyList<NbdExportEntry>> ListExportsAsync(EndPoint endPoint, NbdTls? tls, CancellationToken cancellationToken = default)
    {
        var channel = await NbdClientChannel.OpenAsync(endPoint, tls, cancellationToken).ConfigureAwait(false);
        try
        {
            var entries = await channel.Handshake.ListAsync(cancellationToken).ConfigureAwait(false);
            await channel.Handshake.AbortAsync(cancellationToken).ConfigureAwait(false);
            return entries;
        }
        finally
        {
            await channel.CloseAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Reads <c>buffer.Length</c> bytes at <paramref name="offset"/>.</summary>
    public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        CheckPayload(buffer.Length);
        return SendAsync(NbdCommand.Read, NbdCommandFlags.None, offset, (uint)buffer.Length, default, buffer, cancellationToken);
    }

    /// <summary>Writes <paramref name="data"/>; with <paramref name="fua"/> the server makes it durable before answering.</summary>
    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool fua = false, CancellationToken cancellationToken = default)
    {
        CheckPayload(data.Length);
        return SendAsync(NbdCommand.Write, fua ? NbdCommandFlags.Fua : NbdCommandFlags.None, offset, (uint)data.Length, data, default, cancellationToken);
    }

    /// <summary>Makes every write answered so far durable.</summary>
    public ValueTask FlushAsync(CancellationToken cancellationToken = default) =>
        SendAsync(NbdCommand.Flush, NbdCommandFlags.None, 0, 0, default, default, cancellationToken);

    /// <summary>Discards a range (its contents are undefined until written again).</summary>
    public ValueTask TrimAsync(long offset, uint length, bool fua = false, CancellationToken cancellationToken = default) =>
        SendAsync(NbdCommand.Trim, fua ? NbdCommandFlags.Fua : NbdCommandFlags.None, offset, length, default, default, cancellationToken);

    /// <summary>Zeroes a range without sending the zeroes.</summary>
    public ValueTask WriteZeroesAsync(long offset, uint length, bool fua = false, bool noHole = false, CancellationToken cancellationToken = default) =>
        SendAsync(NbdCommand.WriteZeroes,
            (fua ? NbdCommandFlags.Fua : NbdCommandFlags.None) | (noHole ? NbdCommandFlags.NoHole : NbdCommandFlags.None),
            offset, length, default, default, cancellationToken);

    /// <summary>Waits for requests in flight, sends NBD_CMD_DISC and closes (a soft disconnect).</summary>
    public async Task DisconnectAsync()
    {
        if (Interlocked.Exchange(ref _disconnected, 1) != 0)
        {
            return;
        }

        for (int i = 0; i < _slots.Length; i++)
        {
            await _slotsAvailable.WaitAsync().ConfigureAwait(false);
        }

        if (_failure is null)
        {
            byte[] header = new byte[NbdMagic.RequestHeaderLength];
            NbdRequestCodec.Write(header, new NbdRequest(NbdCommandFlags.None, NbdCommand.Disconnect, 0, 0, 0));
            try
            {
                await _sendLock.WaitAsync().ConfigureAwait(false);
                await _stream.WriteAsync(header).ConfigureAwait(false);
                _socket.Shutdown(SocketShutdown.Send);
            }
            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
            {
                // Already gone: nothing left to say goodbye to.
            }
        }

        Fail(new NbdConnectionException("NBD client disconnected."));
        await _replyLoop.ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await DisconnectAsync().ConfigureAwait(false);
        await _stream.DisposeAsync().ConfigureAwait(false);
        _slotsAvailable.Dispose();
        _sendLock.Dispose();
    }

    private void CheckPayload(int length)
    {
        if (length <= 0 || length > Export.MaximumPayload)
        {
            throw new ArgumentOutOfRangeException(nameof(length), $"Length must be 1..{Export.MaximumPayload} bytes.");
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask SendAsync(NbdCommand command, NbdCommandFlags flags, long offset, uint length,
        ReadOnlyMemory<byte> payload, Memory<byte> readBuffer, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ThrowIfBroken();
        await _slotsAvailable.WaitAsync(cancellationToken).ConfigureAwait(false);
        NbdPendingRequest slot;
        lock (_freeSlots)
        {
            slot = _slots[_freeSlots.Pop()];
        }

        try
        {
            var reply = slot.Start(command, (ulong)offset, readBuffer);
            NbdRequestCodec.Write(slot.Header, new NbdRequest(flags, command, (ulong)slot.Index, (ulong)offset, length));
            await _sendLock.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                ThrowIfBroken();
                await _stream.WriteAsync(slot.Header, CancellationToken.None).ConfigureAwait(false);
                if (!payload.IsEmpty)
                {
                    await _stream.WriteAsync(payload, CancellationToken.None).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
            {
                // Part of a request may be on the wire: the stream is unusable now.
                Fail(new NbdConnectionException("Sending to the NBD server failed.", e));
            }
            finally
            {
                _sendLock.Release();
            }

            await reply.ConfigureAwait(false);
        }
        finally
        {
            // Answered, failed with the connection, or never sent: no reply can arrive for it any more.
            lock (_freeSlots)
            {
                slot.Release();
                _freeSlots.Push(slot.Index);
            }

            _slotsAvailable.Release();
        }
    }

    private void ThrowIfBroken()
    {
        if (_failure is not null)
        {
            // A fresh exception per call: sharing one instance would mix up stack traces across callers.
            throw new NbdConnectionException($"NBD connection is closed: {_failure.Message}", _failure);
        }
    }

    /// <summary>Marks the connection broken, fails every request in flight and closes the socket.</summary>
    private void Fail(Exception failure)
    {
        if (Interlocked.CompareExchange(ref _failure, failure, null) is null)
        {
            foreach (var slot in _slots)
            {
                slot.Fail(failure);
            }

            try
            {
                _socket.Shutdown(SocketShutdown.Both);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                // Already closed.
            }
        }
    }

    private async Task ReceiveRepliesAsync()
    {
        try
        {
            while (true)
            {
                var result = await _reader.ReadAsync().ConfigureAwait(false);
                var buffer = result.Buffer;
                if (!NbdReplyCodec.TryParse(buffer, out var header, out int headerLength))
                {
                    _reader.AdvanceTo(buffer.Start, buffer.End);
                    if (result.IsCompleted)
                    {
                        Fail(new NbdConnectionException("NBD server closed the connection."));
                        return;
                    }

                    continue;
                }

                _reader.AdvanceTo(buffer.GetPosition(headerLength));
                var slot = header.Cookie < (ulong)_slots.Length && _slots[header.Cookie].InUse
                    ? _slots[header.Cookie]
                    : throw new NbdProtocolException($"Reply for unknown cookie {header.Cookie}.");

                if (!header.IsStructured)
                {
                    await ReceiveSimpleAsync(slot, header).ConfigureAwait(false);
                }
                else
                {
                    await ReceiveChunkAsync(slot, header).ConfigureAwait(false);
                }
            }
        }
        catch (Exception e) when (e is NbdException)
        {
            Fail(e);
        }
        catch (Exception e)
        {
            Fail(_disconnected != 0 ? new NbdConnectionException("NBD client disconnected.", e) : new NbdConnectionException("NBD connection broke.", e));
        }
        finally
        {
            await _reader.CompleteAsync().ConfigureAwait(false);
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask ReceiveSimpleAsync(NbdPendingRequest slot, NbdReplyHeader header)
    {
        slot.Error = header.Error;
        if (slot.Command == NbdCommand.Read && header.Error == NbdError.None)
        {
            if (StructuredReplies)
            {
                throw new NbdProtocolException("Simple reply to a read after structured replies were negotiated.");
            }

            await ReadPayloadAsync(slot.Buffer).ConfigureAwait(false);
        }

        slot.Complete();
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask ReceiveChunkAsync(NbdPendingRequest slot, NbdReplyHeader header)
    {
        uint length = header.Length;
        switch (header.Type)
        {
            case NbdReplyType.None:
                if (length != 0)
                {
                    throw new NbdProtocolException("NBD_REPLY_TYPE_NONE with a payload.");
                }

                break;

            case NbdReplyType.OffsetData:
            {
                if (slot.Command != NbdCommand.Read || length < 9)
                {
                    throw new NbdProtocolException("Unexpected NBD_REPLY_TYPE_OFFSET_DATA.");
                }

                await ReadPayloadAsync(_replyScratch.AsMemory(0, 8)).ConfigureAwait(false);
                int start = ChunkStart(slot, BinaryPrimitives.ReadUInt64BigEndian(_replyScratch), length - 8);
                await ReadPayloadAsync(slot.Buffer.Slice(start, (int)(length - 8))).ConfigureAwait(false);
                slot.Covered += length - 8;
                break;
            }

            case NbdReplyType.OffsetHole:
            {
                if (slot.Command != NbdCommand.Read || length != 12)
                {
                    throw new NbdProtocolException("Unexpected NBD_REPLY_TYPE_OFFSET_HOLE.");
                }

                await ReadPayloadAsync(_replyScratch.AsMemory(0, 12)).ConfigureAwait(false);
                uint holeSize = BinaryPrimitives.ReadUInt32BigEndian(_replyScratch.AsSpan(8));
                int start = ChunkStart(slot, BinaryPrimitives.ReadUInt64BigEndian(_replyScratch), holeSize);
                slot.Buffer.Span.Slice(start, (int)holeSize).Clear();
                slot.Covered += holeSize;
                break;
            }

            default:
                if (((ushort)header.Type & 0x8000) == 0)
                {
                    throw new NbdProtocolException($"Unknown structured reply type {(ushort)header.Type}.");
                }

                await ReceiveErrorChunkAsync(slot, header).ConfigureAwait(false);
                break;
        }

        if ((header.Flags & NbdReplyFlags.Done) != 0)
        {
            if (slot.Command == NbdCommand.Read && slot.Error == NbdError.None && slot.Covered != slot.Buffer.Length)
            {
                throw new NbdProtocolException($"Read reply covered {slot.Covered} of {slot.Buffer.Length} bytes.");
            }

            slot.Complete();
        }
    }

    private async ValueTask ReceiveErrorChunkAsync(NbdPendingRequest slot, NbdReplyHeader header)
    {
        if (header.Length < 6 || header.Length > 65536)
        {
            throw new NbdProtocolException($"Error chunk of {header.Length} bytes.");
        }

        byte[] payload = ArrayPool<byte>.Shared.Rent((int)header.Length);
        try
        {
            await ReadPayloadAsync(payload.AsMemory(0, (int)header.Length)).ConfigureAwait(false);
            var error = (NbdError)BinaryPrimitives.ReadUInt32BigEndian(payload);
            int messageLength = BinaryPrimitives.ReadUInt16BigEndian(payload.AsSpan(4));
            if (messageLength > header.Length - 6)
            {
                throw new NbdProtocolException("Error chunk message longer than the chunk.");
            }

            slot.Error = error == NbdError.None ? NbdError.IoError : error;
            slot.ErrorMessage = Encoding.UTF8.GetString(payload, 6, messageLength);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(payload);
        }
    }

    private static int ChunkStart(NbdPendingRequest slot, ulong chunkOffset, long chunkLength)
    {
        if (chunkOffset < slot.Offset || chunkLength <= 0 || chunkOffset - slot.Offset + (ulong)chunkLength > (ulong)slot.Buffer.Length)
        {
            throw new NbdProtocolException($"Read chunk {chunkOffset}+{chunkLength} lies outside the request.");
        }

        return (int)(chunkOffset - slot.Offset);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask ReadPayloadAsync(Memory<byte> destination)
    {
        if (!await NbdPipe.ReadExactAsync(_reader, destination, CancellationToken.None).ConfigureAwait(false))
        {
            throw new NbdConnectionException("NBD server closed the connection in the middle of a reply.");
        }
    }
}
