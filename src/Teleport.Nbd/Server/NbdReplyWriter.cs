using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.Extensions.Logging;
using Teleport.Nbd.Protocol;

namespace Teleport.Nbd.Server;

/// <summary>
/// Sends replies of one connection in completion order; one reply at a time on the wire (async lock).
/// Read data travels in the caller's pooled buffer with <see cref="HeaderRoom"/> bytes free in front,
/// so header and data go out in a single send without copying.
/// </summary>
internal sealed class NbdReplyWriter(Stream output, ILogger logger, string remote)
{
    /// <summary>Bytes reserved before read data for the reply header (the largest: a hole chunk, 32 bytes).</summary>
    public const int HeaderRoom = 32;

    private const int MaxMessageLength = 256;

    private readonly SemaphoreSlim _lock = new(1, 1);
    private readonly byte[] _scratch = new byte[NbdMagic.StructuredReplyHeaderLength + 6 + MaxMessageLength * 4];
    private volatile bool _failed;

    /// <summary>True once a send failed: the peer is gone.</summary>
    public bool Failed => _failed;

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask WriteSuccessAsync(ulong cookie)
    {
        await _lock.WaitAsync().ConfigureAwait(false);
        try
        {
            NbdReplyCodec.WriteSimple(_scratch, NbdError.None, cookie);
            await SendAsync(_scratch.AsMemory(0, NbdMagic.SimpleReplyHeaderLength)).ConfigureAwait(false);
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>An error reply: a structured NBD_REPLY_TYPE_ERROR with a message when negotiated, else a simple reply.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask WriteErrorAsync(ulong cookie, NbdError error, string? message, bool structured)
    {
        await _lock.WaitAsync().ConfigureAwait(false);
        try
        {
            int length;
            if (structured)
            {
                string text = message is null ? string.Empty : message.Length > MaxMessageLength ? message[..MaxMessageLength] : message;
                int textLength = Encoding.UTF8.GetBytes(text, _scratch.AsSpan(NbdMagic.StructuredReplyHeaderLength + 6));
                NbdReplyCodec.WriteStructured(_scratch, NbdReplyFlags.Done, NbdReplyType.Error, cookie, (uint)(6 + textLength));
                BinaryPrimitives.WriteUInt32BigEndian(_scratch.AsSpan(NbdMagic.StructuredReplyHeaderLength), (uint)error);
                BinaryPrimitives.WriteUInt16BigEndian(_scratch.AsSpan(NbdMagic.StructuredReplyHeaderLength + 4), (ushort)textLength);
                length = NbdMagic.StructuredReplyHeaderLength + 6 + textLength;
            }
            else
            {
                NbdReplyCodec.WriteSimple(_scratch, error, cookie);
                length = NbdMagic.SimpleReplyHeaderLength;
            }

            await SendAsync(_scratch.AsMemory(0, length)).ConfigureAwait(false);
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>
    /// Sends read data found at <c>buffer[HeaderRoom..HeaderRoom + length]</c>. With structured replies a
    /// range of zeroes goes as one NBD_REPLY_TYPE_OFFSET_HOLE chunk instead of the bytes.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask WriteReadDataAsync(ulong cookie, byte[] buffer, int length, ulong offset, bool structured)
    {
        int start;
        int end = HeaderRoom + length;
        if (!structured)
        {
            start = HeaderRoom - NbdMagic.SimpleReplyHeaderLength;
            NbdReplyCodec.WriteSimple(buffer.AsSpan(start), NbdError.None, cookie);
        }
        else if (buffer.AsSpan(HeaderRoom, length).IndexOfAnyExcept((byte)0) < 0)
        {
            start = 0;
            end = HeaderRoom;
            NbdReplyCodec.WriteStructured(buffer, NbdReplyFlags.Done, NbdReplyType.OffsetHole, cookie, 12);
            BinaryPrimitives.WriteUInt64BigEndian(buffer.AsSpan(NbdMagic.StructuredReplyHeaderLength), offset);
            BinaryPrimitives.WriteUInt32BigEndian(buffer.AsSpan(NbdMagic.StructuredReplyHeaderLength + 8), (uint)length);
        }
        else
        {
            start = HeaderRoom - NbdMagic.StructuredReplyHeaderLength - 8;
            NbdReplyCodec.WriteStructured(buffer.AsSpan(start), NbdReplyFlags.Done, NbdReplyType.OffsetData, cookie, (uint)length + 8);
            BinaryPrimitives.WriteUInt64BigEndian(buffer.AsSpan(HeaderRoom - 8), offset);
        }

        await _lock.WaitAsync().ConfigureAwait(false);
        try
        {
            await SendAsync(buffer.AsMemory(start, end - start)).ConfigureAwait(false);
        }
        finally
        {
            _lock.Release();
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask SendAsync(ReadOnlyMemory<byte> bytes)
    {
        if (_failed)
        {
            return;
        }

        try
        {
            await output.WriteAsync(bytes).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or System.Net.Sockets.SocketException)
        {
            // The peer went away; the reading side notices the closed socket and ends the connection.
            _failed = true;
            NbdLog.ReplyFailed(logger, e, remote);
        }
    }
}
