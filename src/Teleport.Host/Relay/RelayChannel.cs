using System.Buffers;
using System.Diagnostics;
using System.Net.Sockets;
using Teleport.Host.Worker;

namespace Teleport.Host.Relay;

/// <summary>
/// One QEMU migration connection carried over the WAN by the relay, both directions: bytes read from the local QEMU
/// socket are held until the peer acknowledges them (<see cref="RetainedBytes"/>); bytes from the peer go to QEMU and
/// are counted. When the WAN link breaks the QEMU socket stays open: <see cref="RunAsync"/> asks for a new link (the
/// source reconnects, the destination waits for it) within the recovery window and resends from what the peer received.
/// Past the window, or on a protocol error, the QEMU socket is closed and QEMU sees its migration connection fail.
/// </summary>
internal sealed class RelayChannel : IAsyncDisposable
{
    private readonly NetworkStream _qemu;
    private readonly RetainedBytes _out;
    private readonly RelaySettings _settings;
    private readonly Func<long, CancellationToken, Task<RelayLink>> _nextLink;
    private readonly AsyncPulse _sendDue = new();
    private readonly CancellationTokenSource _closing = new();
    private readonly byte[] _sendBuffer = ArrayPool<byte>.Shared.Rent(2 * RelayFrame.HeaderSize + RelayFrame.MaxPayload);
    private readonly byte[] _receiveBuffer = ArrayPool<byte>.Shared.Rent(RelayFrame.HeaderSize + RelayFrame.MaxPayload);
    private readonly Task _reading;
    private long _received;
    private long _lastHeard;
    private int _ackDue;
    private volatile bool _peerEnded;
    private volatile bool _qemuGone;
    private volatile bool _forwarding;
    private Stream? _current;
    private volatile string? _endedBecause;

    /// <summary>A channel over <paramref name="qemu"/>; <paramref name="nextLink"/> gives a new link after a break (given the bytes received here, it returns once the peer's count is known).</summary>
    public RelayChannel(Socket qemu, UInt128 token, int number, RelaySettings settings, Func<long, CancellationToken, Task<RelayLink>> nextLink)
    {
        _qemu = new NetworkStream(qemu, ownsSocket: true);
        Token = token;
        Number = number;
        _settings = settings;
        _nextLink = nextLink;
        _out = new RetainedBytes(settings.RetainBytes);
        _reading = ReadQemuAsync();
    }

    public UInt128 Token { get; }

    /// <summary>The channel's place among the VM's migration connections (0: the main one, then multifd's).</summary>
    public int Number { get; }

    /// <summary>Bytes from QEMU held for a resend right now (at most the retention bound).</summary>
    public long Held => _out.Held;

    /// <summary>True once both streams were delivered and acknowledged (the channel ended well).</summary>
    public bool Delivered { get; private set; }

    /// <summary>Bytes from the peer written to QEMU so far.</summary>
    public long Received => Interlocked.Read(ref _received);

    /// <summary>Ends the current link (a newer one is waiting): the channel then asks <c>nextLink</c> for it.</summary>
    public void Interrupt()
    {
        _endedBecause = "the source connected again";
        Volatile.Read(ref _current)?.Dispose();
    }

    /// <summary>Carries the channel over <paramref name="first"/> and every link after it, until both streams ended or the channel gives up.</summary>
    public async Task RunAsync(RelayLink first)
    {
        var link = first;
        try
        {
            _out.Rewind(link.PeerReceived);
            while (await PumpAsync(link).ConfigureAwait(false) is { } broke)
            {
                if (_closing.IsCancellationRequested)
                    return;
                HostWorkerLog.RelayLinkBroke(_settings.Log, _settings.VmId, Number, broke, _out.Held, _settings.RecoveryWindow.TotalSeconds);
                HostWorkerMetrics.RelayBroke();
                long brokeAt = Stopwatch.GetTimestamp();
                if (await NextLinkAsync().ConfigureAwait(false) is not { } next)
                    return;
                link = next;
                long resent = _out.Rewind(link.PeerReceived);
                HostWorkerLog.RelayLinkResumed(_settings.Log, _settings.VmId, Number, Stopwatch.GetElapsedTime(brokeAt).TotalMilliseconds, resent, Received);
                HostWorkerMetrics.RelayResumed();
            }

            Delivered = true;
        }
        catch (RelayRefusedException e) when (e.Status == RelayHello.Finished)
        {
            // The destination ended this channel delivered: it had our end, and we had acked its end, so nothing is missing.
            Delivered = true;
            HostWorkerLog.RelayFoundDelivered(_settings.Log, _settings.VmId, Number);
        }
        catch (IOException e) when (e is RelayProtocolException or RelayRefusedException)
        {
            HostWorkerLog.RelayChannelFailed(_settings.Log, _settings.VmId, Number, e.Message);
        }
        finally
        {
            await CloseQemuAsync().ConfigureAwait(false);
            _out.Dispose();
            ArrayPool<byte>.Shared.Return(_sendBuffer);
            ArrayPool<byte>.Shared.Return(_receiveBuffer);
        }
    }

    // The next link within the recovery window; null when the window passed (reported) or the channel closes.
    private async Task<RelayLink?> NextLinkAsync()
    {
        using var window = CancellationTokenSource.CreateLinkedTokenSource(_closing.Token);
        window.CancelAfter(_settings.RecoveryWindow);
        try
        {
            return await _nextLink(Received, window.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!_closing.IsCancellationRequested)
        {
            HostWorkerLog.RelayRecoveryExpired(_settings.Log, _settings.VmId, Number, _settings.RecoveryWindow.TotalSeconds, _out.Held);
            HostWorkerMetrics.RelayExpired();
            return null;
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    // Runs one link until both streams are delivered (null) or it breaks (why).
    private async Task<string?> PumpAsync(RelayLink link)
    {
        _endedBecause = null;
        Volatile.Write(ref _current, link.Stream);
        Interlocked.Exchange(ref _lastHeard, Stopwatch.GetTimestamp());
        _ackDue = 1;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(_closing.Token);
        var sender = SendAsync(link.Stream, stop.Token);
        var receiver = ReceiveAsync(link.Stream, stop.Token);
        var watchdog = WatchAsync(link.Stream, stop.Token);
        var first = await Task.WhenAny(sender, receiver).ConfigureAwait(false);
        bool delivered = first == sender && sender.IsCompletedSuccessfully;
        // Done: the peer closes once it has our last ack; closing first could reset the connection under it.
        if (delivered)
            await Task.WhenAny(receiver, Task.Delay(TimeSpan.FromSeconds(2))).ConfigureAwait(false);
        await stop.CancelAsync().ConfigureAwait(false);
        await link.Stream.DisposeAsync().ConfigureAwait(false);
        await Task.WhenAll(sender, receiver, watchdog).ContinueWith(_ => { }, TaskScheduler.Default).ConfigureAwait(false);
        if (delivered)
            return null;
        var failure = first.Exception?.InnerException;
        if (failure is RelayProtocolException protocol)
            throw protocol;
        return _endedBecause ?? failure?.Message ?? "the peer closed the link";
    }

    private async Task SendAsync(Stream wan, CancellationToken cancellationToken)
    {
        await Task.Yield();
        long lastSent = Stopwatch.GetTimestamp();
        while (true)
        {
            int length = 0;
            bool heartbeat = Stopwatch.GetElapsedTime(lastSent) >= _settings.Heartbeat;
            if (Interlocked.Exchange(ref _ackDue, 0) == 1 || heartbeat)
            {
                RelayFrame.Write(_sendBuffer, RelayFrame.Ack, Received);
                length = RelayFrame.HeaderSize;
            }

            var (bytes, endDue, endAt) = _out.NextToSend(RelayFrame.MaxPayload);
            if (!bytes.IsEmpty)
            {
                RelayFrame.Write(_sendBuffer.AsSpan(length), RelayFrame.Data, bytes.Length);
                bytes.Span.CopyTo(_sendBuffer.AsSpan(length + RelayFrame.HeaderSize));
                length += RelayFrame.HeaderSize + bytes.Length;
                // Counted before the write: the peer's ack of these bytes may arrive before the write returns.
                _out.Sent(bytes.Length);
            }
            else if (endDue)
            {
                RelayFrame.Write(_sendBuffer.AsSpan(length), RelayFrame.End, endAt);
                length += RelayFrame.HeaderSize;
                _out.Sent(1);
            }

            if (length > 0)
            {
                await wan.WriteAsync(_sendBuffer.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
                lastSent = Stopwatch.GetTimestamp();
                continue;
            }

            if (_peerEnded && _out.Delivered)
                return;
            await _sendDue.WaitAsync(_settings.Heartbeat, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task ReceiveAsync(Stream wan, CancellationToken cancellationToken)
    {
        await Task.Yield();
        var header = _receiveBuffer.AsMemory(0, RelayFrame.HeaderSize);
        while (true)
        {
            await wan.ReadExactlyAsync(header, cancellationToken).ConfigureAwait(false);
            Interlocked.Exchange(ref _lastHeard, Stopwatch.GetTimestamp());
            var (type, value) = RelayFrame.Read(header.Span);
            switch (type)
            {
                case RelayFrame.Data when _peerEnded:
                    throw new RelayProtocolException("data after the end of the stream");
                case RelayFrame.Data:
                    var payload = _receiveBuffer.AsMemory(RelayFrame.HeaderSize, (int)value);
                    await wan.ReadExactlyAsync(payload, cancellationToken).ConfigureAwait(false);
                    // A QEMU slow to read (TCG loading pages) is not a silent link: the watchdog waits for it.
                    _forwarding = true;
                    await ForwardAsync(payload).ConfigureAwait(false);
                    _forwarding = false;
                    Interlocked.Exchange(ref _lastHeard, Stopwatch.GetTimestamp());
                    Interlocked.Add(ref _received, value);
                    break;
                case RelayFrame.Ack:
                    _out.Acknowledge(value);
                    break;
                default:
                    EndFromPeer(value);
                    break;
            }

            if (type != RelayFrame.Ack)
                Interlocked.Exchange(ref _ackDue, 1);
            _sendDue.Signal();
        }
    }

    // Not cancelled midway: how much of a cancelled write reached QEMU is unknowable, and the count must be exact.
    private async Task ForwardAsync(ReadOnlyMemory<byte> payload)
    {
        if (_qemuGone)
            return;
        try
        {
            await _qemu.WriteAsync(payload, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            // QEMU closed its connection: what it no longer reads is dropped, the stream still ends in order.
            _qemuGone = true;
        }
    }

    // The peer's QEMU closed its side: ours reads the end of the stream after the last byte.
    private void EndFromPeer(long at)
    {
        if (_peerEnded)
            return;
        if (at != Received)
            throw new RelayProtocolException($"the peer's stream ends at {at} bytes, {Received} were received");
        _peerEnded = true;
        Interlocked.Increment(ref _received);
        try
        {
            _qemu.Socket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            _qemuGone = true;
        }
    }

    // A link that hears nothing (not even heartbeats) is dead even if no socket says so.
    private async Task WatchAsync(Stream wan, CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                await Task.Delay(_settings.Heartbeat, cancellationToken).ConfigureAwait(false);
                if (!_forwarding && Stopwatch.GetElapsedTime(Interlocked.Read(ref _lastHeard)) > _settings.LinkTimeout)
                {
                    _endedBecause = $"nothing heard from the peer for {_settings.LinkTimeout.TotalSeconds:0.#} s";
                    await wan.DisposeAsync().ConfigureAwait(false);
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
            // The link ended first.
        }
    }

    private async Task ReadQemuAsync()
    {
        await Task.Yield();
        try
        {
            while (true)
            {
                var free = await _out.FreeAsync(_closing.Token).ConfigureAwait(false);
                int read = await _qemu.ReadAsync(free, _closing.Token).ConfigureAwait(false);
                if (read == 0)
                    break;
                _out.Commit(read);
                _sendDue.Signal();
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException)
        {
            // QEMU's side closed (or the channel did): the stream ends here.
        }

        _out.End();
        _sendDue.Signal();
    }

    private async Task CloseQemuAsync()
    {
        if (!_closing.IsCancellationRequested)
            await _closing.CancelAsync().ConfigureAwait(false);
        Volatile.Read(ref _current)?.Dispose();
        await _qemu.DisposeAsync().ConfigureAwait(false);
        await _reading.ConfigureAwait(false);
    }

    /// <summary>Closes the QEMU socket and the link (the relay is going away).</summary>
    public async ValueTask DisposeAsync()
    {
        await CloseQemuAsync().ConfigureAwait(false);
    }
}
