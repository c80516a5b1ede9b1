using System.Buffers;

namespace Teleport.Host.Relay;

/// <summary>
/// The bytes one side of a relay channel read from its QEMU and the peer has not acknowledged yet: a ring of fixed
/// capacity. Positions are absolute stream offsets: acked ≤ sent ≤ written ≤ acked + capacity. When the ring is full
/// the QEMU reader waits for an ack (backpressure, never loss); after a reconnect, sending starts again at what the
/// peer says it received. The stream's end counts as one more position, so an ack past the last byte confirms it.
/// </summary>
internal sealed class RetainedBytes : IDisposable
{
    private readonly byte[] _ring;
    private readonly int _capacity;
    private readonly Lock _lock = new();
    private readonly AsyncPulse _space = new();
    private long _acked, _sent, _written;
    private bool _ended;

    public RetainedBytes(int capacity)
    {
        _capacity = capacity;
        _ring = ArrayPool<byte>.Shared.Rent(capacity);
    }

    /// <summary>Bytes held for a resend (read from QEMU, not yet acknowledged).</summary>
    public long Held
    {
        get
        {
            lock (_lock)
                return _written - _acked;
        }
    }

    /// <summary>The stream ended and the peer acknowledged every byte of it and its end.</summary>
    public bool Delivered
    {
        get
        {
            lock (_lock)
                return _ended && _acked == _written + 1;
        }
    }

    /// <summary>Free space to read QEMU's next bytes into, waiting while the ring is full.</summary>
    public async ValueTask<Memory<byte>> FreeAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            lock (_lock)
            {
                long free = _capacity - (_written - _acked);
                if (free > 0)
                {
                    int at = (int)(_written % _capacity);
                    return _ring.AsMemory(at, (int)Math.Min(free, _capacity - at));
                }
            }

            await _space.WaitAsync(Timeout.InfiniteTimeSpan, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Adds the <paramref name="count"/> bytes just read into <see cref="FreeAsync"/>'s memory.</summary>
    public void Commit(int count)
    {
        lock (_lock)
            _written += count;
    }

    /// <summary>QEMU closed its side: the stream ends after the bytes written so far.</summary>
    public void End()
    {
        lock (_lock)
            _ended = true;
    }

    /// <summary>What to send next: unsent bytes (contiguous, at most <paramref name="max"/>), or whether the end is due.</summary>
    public (ReadOnlyMemory<byte> Bytes, bool EndDue, long EndAt) NextToSend(int max)
    {
        lock (_lock)
        {
            if (_sent < _written)
            {
                int at = (int)(_sent % _capacity);
                int length = (int)Math.Min(Math.Min(_written - _sent, _capacity - at), max);
                return (_ring.AsMemory(at, length), false, _written);
            }

            return (ReadOnlyMemory<byte>.Empty, _ended && _sent == _written, _written);
        }
    }

    /// <summary>Records <paramref name="count"/> bytes (or, with 1 and nothing left, the end) as sent.</summary>
    public void Sent(int count)
    {
        lock (_lock)
            _sent += count;
    }

    /// <summary>The peer received everything before <paramref name="position"/>: that space is free again.</summary>
    /// <exception cref="RelayProtocolException">An ack behind an earlier one, or past what was sent.</exception>
    public void Acknowledge(long position)
    {
        lock (_lock)
        {
            if (position < _acked || position > _sent)
                throw new RelayProtocolException($"an ack of {position} bytes outside {_acked}-{_sent}");
            _acked = position;
        }

        _space.Signal();
    }

    /// <summary>A new link: the peer received <paramref name="peerReceived"/> bytes; sending resumes there.</summary>
    /// <returns>The bytes to send again.</returns>
    /// <exception cref="RelayProtocolException">The peer claims bytes that were acknowledged already, or never written.</exception>
    public long Rewind(long peerReceived)
    {
        lock (_lock)
        {
            long end = _written + (_ended ? 1 : 0);
            if (peerReceived < _acked || peerReceived > end)
                throw new RelayProtocolException($"the peer resumes at {peerReceived} bytes, outside what is held ({_acked}-{end})");
            long resent = _sent - peerReceived;
            _acked = peerReceived;
            _sent = peerReceived;
            _space.Signal();
            return Math.Max(resent, 0);
        }
    }

    public void Dispose() => ArrayPool<byte>.Shared.Return(_ring);
}
