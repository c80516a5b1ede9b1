using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using Teleport.Nbd.Exports;
using Teleport.Nbd.Protocol;

namespace Teleport.Nbd.Server;

/// <summary>
/// Sends one READ's reply in slices, so a read holds one slice of memory however long it is and however slowly
/// the client takes it. Simple replies and reads flagged NBD_CMD_FLAG_DF go as one header followed by the data;
/// other structured reads go as chunks, runs of zero slices as one hole chunk. A failure of the first slice is an
/// error reply; a later one is an error chunk, or (where the reply cannot carry it) closes the connection.
/// </summary>
internal sealed class NbdReadReply(NbdSession session, NbdReplyWriter writer, NbdMemoryBudget memory, ILogger logger, CancellationToken cancellationToken)
{
    /// <summary>Bytes read from the export and sent at a time.</summary>
    public const int SliceLength = 256 * 1024;

    /// <summary>The largest buffer a reply holds: a slice and room for its header.</summary>
    public const int BufferLength = NbdReplyWriter.HeaderRoom + SliceLength;

    private const int DataChunkHeader = NbdMagic.StructuredReplyHeaderLength + 8;

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask SendAsync(NbdRequest request)
    {
        // A fenced export's read waits for its blocks before it takes the reply lock: other replies must not queue behind it.
        var waited = session.Export is FencedNbdExport fenced ? await TryWaitAsync(fenced, request).ConfigureAwait(false) : null;
        // Taken before the buffer: replies waiting for the wire hold no memory.
        await writer.LockAsync().ConfigureAwait(false);
        try
        {
            int length = NbdReplyWriter.HeaderRoom + (int)Math.Min(request.Length, SliceLength);
            byte[] buffer = await memory.RentAsync(length, cancellationToken).ConfigureAwait(false);
            try
            {
                bool chunked = session.StructuredReplies && (request.Flags & NbdCommandFlags.DontFragment) == 0;
                if (waited is not null)
                    await FailAsync(request, waited, 0, chunked, null, buffer).ConfigureAwait(false);
                else
                    await SendSlicesAsync(request, buffer, chunked).ConfigureAwait(false);
            }
            finally
            {
                memory.Return(buffer);
            }
        }
        finally
        {
            writer.Unlock();
        }
    }

    private async ValueTask SendSlicesAsync(NbdRequest request, byte[] buffer, bool chunked)
    {
        int length = (int)request.Length;
        ulong holeStart = 0;
        int holeLength = 0;
        for (int done = 0; done < length && !writer.Failed;)
        {
            int n = Math.Min(SliceLength, length - done);
            ulong offset = request.Offset + (ulong)done;
            var data = buffer.AsMemory(NbdReplyWriter.HeaderRoom, n);
            if (await TryReadAsync(offset, data).ConfigureAwait(false) is { } error)
            {
                await FailAsync(request, error, done, chunked, holeLength > 0 ? (holeStart, holeLength) : null, buffer).ConfigureAwait(false);
                return;
            }

            bool last = done + n == length;
            if (!chunked)
            {
                await SendContiguousAsync(request, buffer, n, first: done == 0).ConfigureAwait(false);
            }
            else if (data.Span.IndexOfAnyExcept((byte)0) < 0)
            {
                holeStart = holeLength == 0 ? offset : holeStart;
                holeLength += n;
                if (last)
                {
                    await SendHoleAsync(request.Cookie, holeStart, holeLength, done: true, buffer).ConfigureAwait(false);
                }
            }
            else
            {
                if (holeLength > 0)
                {
                    await SendHoleAsync(request.Cookie, holeStart, holeLength, done: false, buffer).ConfigureAwait(false);
                    holeLength = 0;
                }

                int start = NbdReplyWriter.HeaderRoom - DataChunkHeader;
                NbdReplyCodec.WriteStructured(buffer.AsSpan(start), last ? NbdReplyFlags.Done : NbdReplyFlags.None, NbdReplyType.OffsetData, request.Cookie, (uint)n + 8);
                BinaryPrimitives.WriteUInt64BigEndian(buffer.AsSpan(NbdReplyWriter.HeaderRoom - 8), offset);
                await writer.SendLockedAsync(buffer.AsMemory(start, DataChunkHeader + n)).ConfigureAwait(false);
            }

            done += n;
        }
    }

    /// <summary>Slice <paramref name="n"/> of a reply that is one header and then all the data.</summary>
    private ValueTask SendContiguousAsync(NbdRequest request, byte[] buffer, int n, bool first)
    {
        if (!first)
        {
            return writer.SendLockedAsync(buffer.AsMemory(NbdReplyWriter.HeaderRoom, n));
        }

        int start;
        if (session.StructuredReplies)
        {
            start = NbdReplyWriter.HeaderRoom - DataChunkHeader;
            NbdReplyCodec.WriteStructured(buffer.AsSpan(start), NbdReplyFlags.Done, NbdReplyType.OffsetData, request.Cookie, request.Length + 8);
            BinaryPrimitives.WriteUInt64BigEndian(buffer.AsSpan(NbdReplyWriter.HeaderRoom - 8), request.Offset);
        }
        else
        {
            start = NbdReplyWriter.HeaderRoom - NbdMagic.SimpleReplyHeaderLength;
            NbdReplyCodec.WriteSimple(buffer.AsSpan(start), NbdError.None, request.Cookie);
        }

        return writer.SendLockedAsync(buffer.AsMemory(start, NbdReplyWriter.HeaderRoom - start + n));
    }

    /// <summary>A hole chunk, built in the header room (free: the slice's data is sent or not needed).</summary>
    private ValueTask SendHoleAsync(ulong cookie, ulong offset, int length, bool done, byte[] buffer)
    {
        NbdReplyCodec.WriteStructured(buffer, done ? NbdReplyFlags.Done : NbdReplyFlags.None, NbdReplyType.OffsetHole, cookie, 12);
        BinaryPrimitives.WriteUInt64BigEndian(buffer.AsSpan(NbdMagic.StructuredReplyHeaderLength), offset);
        BinaryPrimitives.WriteUInt32BigEndian(buffer.AsSpan(NbdMagic.StructuredReplyHeaderLength + 8), (uint)length);
        return writer.SendLockedAsync(buffer.AsMemory(0, NbdReplyWriter.HeaderRoom));
    }

    private async ValueTask FailAsync(NbdRequest request, Exception failure, int sent, bool chunked, (ulong Start, int Length)? hole, byte[] buffer)
    {
        var error = NbdErrorMapper.Map(failure);
        NbdLog.CommandFailed(logger, failure, request.Command, request.Offset, request.Length, session.Export.Name, error);
        if (sent > 0 && !chunked)
        {
            // Data of this reply is already on the wire: the protocol has no way left to report the error.
            writer.Abort($"READ at {request.Offset}+{request.Length} failed after {sent} bytes of its reply were sent");
            return;
        }

        if (hole is { } pending)
        {
            await SendHoleAsync(request.Cookie, pending.Start, pending.Length, done: false, buffer).ConfigureAwait(false);
        }

        // The exception text stays in the server log: it may name local paths.
        await writer.WriteErrorLockedAsync(request.Cookie, error, $"{request.Command} failed: {error}", session.StructuredReplies).ConfigureAwait(false);
    }

    private async ValueTask<Exception?> TryWaitAsync(FencedNbdExport fenced, NbdRequest request)
    {
        try
        {
            await fenced.WaitReadableAsync((long)request.Offset, request.Length, cancellationToken).ConfigureAwait(false);
            return null;
        }
        catch (Exception e)
        {
            return e;
        }
    }

    private async ValueTask<Exception?> TryReadAsync(ulong offset, Memory<byte> data)
    {
        try
        {
            await session.Export.ReadAsync((long)offset, data, cancellationToken).ConfigureAwait(false);
            return null;
        }
        catch (Exception e)
        {
            return e;
        }
    }
}
