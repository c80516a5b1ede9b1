using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.Extensions.Logging;
using Teleport.Nbd.Protocol;

namespace Teleport.Nbd.Server;

/// <summary>
/// Sends replies of one connection in completion order; one reply at a time on the wire (async lock). A send
/// that makes no progress within the reply timeout (the client stopped reading) fails the writer and closes the
/// stream, which ends the connection's read loop as well.
/// </summary>
internal sealed class NbdReplyWriter(Stream output, TimeSpan replyTimeout, ILogger logger, string remote)
{
    /// <summary>Bytes reserved before read data for a reply or chunk header (the largest: a hole chunk, 32 bytes).</summary>
    public const int HeaderRoom = 32;

    private const int MaxMessageLength = 256;

    private readonly SemaphoreSlim _lock = new(1, 1);
    private readonly byte[] _scratch = new byte[NbdMagic.StructuredReplyHeaderLength + 6 + MaxMessageLength * 4];
    private CancellationTokenSource _timer = new();
    private volatile bool _failed;

    /// <summary>True once a send failed or timed out: the connection is over.</summary>
    public bool Failed => _failed;

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask WriteSuccessAsync(ulong cookie)
    {
        await _lock.WaitAsync().ConfigureAwait(false);
        try
        {
            NbdReplyCodec.WriteSimple(_scratch, NbdError.None, cookie);
            await SendLockedAsync(_scratch.AsMemory(0, NbdMagic.SimpleReplyHeaderLength)).ConfigureAwait(false);
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
            await WriteErrorLockedAsync(cookie, error, message, structured).ConfigureAwait(false);
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Takes the wire for a reply sent in several pieces (<see cref="SendLockedAsync"/>); end with <see cref="Unlock"/>.</summary>
    public Task LockAsync() => _lock.WaitAsync();

    public void Unlock() => _lock.Release();

    /// <summary>Sends the final error of a reply while holding the lock.</summary>
    public ValueTask WriteErrorLockedAsync(ulong cookie, NbdError error, string? message, bool structured)
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

        return SendLockedAsync(_scratch.AsMemory(0, length));
    }

    /// <summary>Sends bytes of the reply being written; the caller holds the lock.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask SendLockedAsync(ReadOnlyMemory<byte> bytes)
    {
        if (_failed)
        {
            return;
        }

        _timer.CancelAfter(replyTimeout);
        try
        {
            await output.WriteAsync(bytes, _timer.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException e)
        {
            Fail(e, $"a reply made no progress for {replyTimeout}: the client does not read its replies");
            return;
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or System.Net.Sockets.SocketException)
        {
            // The peer went away; the reading side notices the closed socket and ends the connection.
            Fail(e, null);
            return;
        }

        if (!_timer.TryReset())
        {
            _timer.Dispose();
            _timer = new CancellationTokenSource();
        }
    }

    /// <summary>Ends the connection because its reply stream cannot continue (e.g. a read failed after its data began).</summary>
    public void Abort(string reason) => Fail(null, reason);

    private void Fail(Exception? e, string? reason)
    {
        _failed = true;
        if (reason is null)
        {
            NbdLog.ReplyFailed(logger, e!, remote);
        }
        else
        {
            NbdLog.ConnectionAborted(logger, remote, reason);
        }

        // Closing the stream wakes the read loop, which then stops taking requests.
        output.Dispose();
    }
}
