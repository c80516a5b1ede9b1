using System.Diagnostics;
using System.Threading.Channels;
using Teleport.Blocks;
using Teleport.Transfer.Protocol;

namespace Teleport.Transfer.Source;

/// <summary>
/// What the destination sends back on one connection. Acks retire frames in flight and requests add pending blocks
/// as they arrive; the end of a request list and the final Complete are handed to the sender as events. A watchdog
/// declares the connection lost when the destination stays silent while a reply is due.
/// </summary>
internal sealed class DestinationReplies
{
    private readonly TransferConnection _connection;
    private readonly InFlightWindow _window;
    private readonly PendingBlocks _pending;
    private readonly VolumeGeometry _geometry;
    private readonly TimeSpan _responseTimeout;
    private readonly Channel<ControlEvent> _events =
        Channel.CreateUnbounded<ControlEvent>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private readonly List<BlockRun> _runs = [];
    private long _lastReceived = Stopwatch.GetTimestamp();
    private bool _awaitingReply;

    // A destination resumed past its index lists every block it lacks before it reads this connection's first Data
    // frame: blocks of that list already taken for a frame here are on their way and are not sent again.
    private bool _inResumeList;

    public DestinationReplies(TransferConnection connection, InFlightWindow window, PendingBlocks pending, in VolumeGeometry geometry,
        TimeSpan responseTimeout)
    {
        _connection = connection;
        _window = window;
        _pending = pending;
        _geometry = geometry;
        _responseTimeout = responseTimeout;
    }

    /// <summary>
    /// Called on the reading task as soon as a RequestEnd arrives: the index totals are known then, while the blocks
    /// requested before it may still be queued behind a rate limit for a while.
    /// </summary>
    public Action<RequestEndMessage>? RequestEndArrived { get; init; }

    /// <summary>The destination resumed in its copy phase: it opens with the list of what it lacks (up to RequestEnd).</summary>
    public void ExpectResumeList() => _inResumeList = true;

    /// <summary>Reads frames until the connection ends or the destination reports an error.</summary>
    public async Task ReadAsync(CancellationToken ct)
    {
        while (true)
        {
            var frame = await _connection.Reader.ReadAsync(ct).ConfigureAwait(false);
            Volatile.Write(ref _lastReceived, Stopwatch.GetTimestamp());
            Handle(frame);
        }
    }

    private void Handle(in Frame frame)
    {
        var payload = frame.Payload.Span;
        switch (frame.Type)
        {
            case MessageType.Ack:
                _window.Acknowledge(AckMessage.Parse(payload).Seq);
                break;
            case MessageType.Request:
                _runs.Clear();
                RequestMessage.Parse(payload, _geometry, _runs);
                if (_inResumeList)
                    _pending.AddUnlessTaken(_runs);
                else
                    _pending.Add(_runs);
                _events.Writer.TryWrite(ControlEvent.MoreRequested);
                break;
            case MessageType.UrgentRequest:
                _runs.Clear();
                RequestMessage.Parse(payload, _geometry, _runs, MessageType.UrgentRequest);
                _pending.AddUrgent(_runs);
                _events.Writer.TryWrite(ControlEvent.MoreRequested);
                break;
            case MessageType.RequestEnd:
                _inResumeList = false;
                var end = RequestEndMessage.Parse(payload);
                RequestEndArrived?.Invoke(end);
                _events.Writer.TryWrite(new ControlEvent(end, null));
                break;
            case MessageType.Complete:
                _events.Writer.TryWrite(new ControlEvent(null, CompleteMessage.Parse(payload).Digest));
                break;
            case MessageType.Error:
                throw ErrorMessage.Parse(payload);
            default:
                throw TransferConnection.Unexpected(frame.Type, "source expects Ack, Request, UrgentRequest, RequestEnd or Complete");
        }
    }

    /// <summary>The next RequestEnd or Complete; with <paramref name="requests"/> also returns when more blocks were requested.</summary>
    public async Task<ControlEvent> NextAsync(CancellationToken ct, bool requests = false)
    {
        Volatile.Write(ref _awaitingReply, true);
        try
        {
            while (true)
            {
                var next = await _events.Reader.ReadAsync(ct).ConfigureAwait(false);
                if (requests || !next.Requested)
                    return next;
            }
        }
        finally
        {
            Volatile.Write(ref _awaitingReply, false);
        }
    }

    /// <summary>
    /// A connection that dies silently while we wait for the destination (acknowledgements of data in flight, the
    /// request list, the final Complete) is declared lost after the response timeout; an idle connection (nothing
    /// outstanding) is left to TCP keepalive.
    /// </summary>
    public async Task WatchAsync(CancellationToken ct)
    {
        var period = TimeSpan.FromMilliseconds(Math.Clamp(_responseTimeout.TotalMilliseconds / 4, 10, 1000));
        try
        {
            while (true)
            {
                await Task.Delay(period, ct).ConfigureAwait(false);
                bool waiting = _window.UnackedBytes > 0 || Volatile.Read(ref _awaitingReply);
                if (!waiting)
                {
                    Volatile.Write(ref _lastReceived, Stopwatch.GetTimestamp());
                    continue;
                }

                if (Stopwatch.GetElapsedTime(Volatile.Read(ref _lastReceived)) > _responseTimeout)
                    throw TransferException.Lost($"no response from the destination for {_responseTimeout.TotalSeconds:0} s");
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
