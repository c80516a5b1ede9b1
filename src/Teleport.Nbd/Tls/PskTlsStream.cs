using System.Buffers;
using System.Runtime.InteropServices;
using Org.BouncyCastle.Tls;

namespace Teleport.Nbd.Tls;

/// <summary>
/// An async stream over BouncyCastle's TLS engine in its non-blocking mode: the engine only encrypts and decrypts
/// (under a lock, never around I/O); this class moves its records over the socket. One reader and any number of
/// writers at a time, as the NBD server and client use a connection.
/// </summary>
internal sealed class PskTlsStream : DuplexStream
{
    // One TLS record of ciphertext: 16 KiB of plaintext plus what a record adds.
    private const int RecordSize = 16 * 1024 + 2048;

    private readonly Stream _inner;
    private readonly TlsProtocol _protocol;
    private readonly Lock _engine = new();
    private readonly SemaphoreSlim _send = new(1, 1);
    private readonly byte[] _received = new byte[RecordSize];
    private readonly byte[] _outgoing = new byte[RecordSize];
    private bool _disposed;

    private PskTlsStream(Stream inner, TlsProtocol protocol)
    {
        _inner = inner;
        _protocol = protocol;
    }

    /// <summary>Runs the server's handshake over <paramref name="inner"/> (which stays open afterwards and on failure).</summary>
    public static Task<PskTlsStream> AcceptAsync(Stream inner, TlsServer server, CancellationToken cancellationToken)
    {
        var protocol = new TlsServerProtocol();
        return HandshakeAsync(new PskTlsStream(inner, protocol), () => protocol.Accept(server), cancellationToken);
    }

    /// <summary>Runs the client's handshake over <paramref name="inner"/> (which stays open afterwards and on failure).</summary>
    public static Task<PskTlsStream> ConnectAsync(Stream inner, TlsClient client, CancellationToken cancellationToken)
    {
        var protocol = new TlsClientProtocol();
        return HandshakeAsync(new PskTlsStream(inner, protocol), () => protocol.Connect(client), cancellationToken);
    }

    private static async Task<PskTlsStream> HandshakeAsync(PskTlsStream stream, Action begin, CancellationToken cancellationToken)
    {
        try
        {
            lock (stream._engine)
            {
                begin();
            }

            await stream.SendPendingAsync(cancellationToken).ConfigureAwait(false);
            while (stream._protocol.IsHandshaking)
            {
                int read = await stream._inner.ReadAsync(stream._received, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    throw new EndOfStreamException("the peer closed the connection during the handshake");
                }

                await stream.OfferAsync(read, cancellationToken).ConfigureAwait(false);
            }

            return stream;
        }
        catch (Exception e) when (e is IOException)
        {
            throw NbdPskCredentials.Failed(e);
        }
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty)
        {
            return 0;
        }

        while (true)
        {
            lock (_engine)
            {
                if (_protocol.GetAvailableInputBytes() > 0)
                {
                    return ReadDecrypted(buffer);
                }

                if (_protocol.IsClosed)
                {
                    return 0;
                }
            }

            int read = await _inner.ReadAsync(_received, cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                return 0;
            }

            await OfferAsync(read, cancellationToken).ConfigureAwait(false);
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count, CancellationToken.None).GetAwaiter().GetResult();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        await _send.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            byte[]? rented = null;
            if (!MemoryMarshal.TryGetArray(buffer, out var segment))
            {
                rented = ArrayPool<byte>.Shared.Rent(buffer.Length);
                buffer.CopyTo(rented);
                segment = new ArraySegment<byte>(rented, 0, buffer.Length);
            }

            try
            {
                lock (_engine)
                {
                    _protocol.WriteApplicationData(segment.Array!, segment.Offset, segment.Count);
                }
            }
            finally
            {
                if (rented is not null)
                {
                    ArrayPool<byte>.Shared.Return(rented);
                }
            }

            await DrainAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _send.Release();
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer, offset, count, CancellationToken.None).GetAwaiter().GetResult();

    public override Task FlushAsync(CancellationToken cancellationToken) => _inner.FlushAsync(cancellationToken);

    public override void Flush() => _inner.Flush();

    private int ReadDecrypted(Memory<byte> buffer)
    {
        if (MemoryMarshal.TryGetArray(buffer, out ArraySegment<byte> segment))
        {
            return _protocol.ReadInput(segment.Array!, segment.Offset, segment.Count);
        }

        byte[] rented = ArrayPool<byte>.Shared.Rent(buffer.Length);
        try
        {
            int read = _protocol.ReadInput(rented, 0, buffer.Length);
            rented.AsSpan(0, read).CopyTo(buffer.Span);
            return read;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>Feeds received ciphertext to the engine and sends what it answers (handshake flights, alerts).</summary>
    private async Task OfferAsync(int count, CancellationToken cancellationToken)
    {
        try
        {
            lock (_engine)
            {
                _protocol.OfferInput(_received, 0, count);
            }
        }
        catch (IOException)
        {
            // A fatal alert of ours is queued: let the peer see it before the connection closes.
            await SendPendingAsync(CancellationToken.None).ConfigureAwait(false);
            throw;
        }

        await SendPendingAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task SendPendingAsync(CancellationToken cancellationToken)
    {
        lock (_engine)
        {
            if (_protocol.GetAvailableOutputBytes() == 0)
            {
                return;
            }
        }

        await _send.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await DrainAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _send.Release();
        }
    }

    /// <summary>Moves the engine's ciphertext to the socket; the caller holds <see cref="_send"/>.</summary>
    private async Task DrainAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            int count;
            lock (_engine)
            {
                count = _protocol.ReadOutput(_outgoing, 0, _outgoing.Length);
            }

            if (count == 0)
            {
                return;
            }

            await _inner.WriteAsync(_outgoing.AsMemory(0, count), cancellationToken).ConfigureAwait(false);
        }
    }

    public override async ValueTask DisposeAsync()
    {
        if (!_disposed)
        {
            _disposed = true;
            await CloseNotifyAsync().ConfigureAwait(false);
        }

        GC.SuppressFinalize(this);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            CloseNotifyAsync().GetAwaiter().GetResult();
        }

        base.Dispose(disposing);
    }

    /// <summary>Tells the peer the session ends (close_notify), best effort: the socket may already be gone.</summary>
    private async Task CloseNotifyAsync()
    {
        try
        {
            lock (_engine)
            {
                _protocol.Close();
            }

            if (_send.Wait(0))
            {
                try
                {
                    using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1));
                    await DrainAsync(timeout.Token).ConfigureAwait(false);
                }
                finally
                {
                    _send.Release();
                }
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException or InvalidOperationException)
        {
            // Nothing to tell a peer that is gone.
        }
    }
}
