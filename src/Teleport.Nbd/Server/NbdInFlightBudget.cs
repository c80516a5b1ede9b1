using Teleport.Nbd.Protocol;

namespace Teleport.Nbd.Server;

/// <summary>
/// The bytes a connection's requests hold or owe: READ lengths until their replies are sent, WRITE payloads until
/// written. The read loop waits here before taking a request that would go past the limit, so a client that does
/// not read its replies stops being read instead of piling up work. Only the read loop waits.
/// </summary>
internal sealed class NbdInFlightBudget(long limit)
{
    private readonly Lock _lock = new();
    private long _inFlight;
    private long _wanted;
    private TaskCompletionSource? _waiter;

    /// <summary>True while any request holds bytes.</summary>
    public bool Busy
    {
        get
        {
            lock (_lock)
            {
                return _inFlight > 0;
            }
        }
    }

    public static long CostOf(in NbdRequest request) =>
        request.Command is NbdCommand.Read or NbdCommand.Write ? request.Length : 0;

    /// <summary>Takes <paramref name="cost"/> bytes, waiting while they would exceed the limit (alone they never wait).</summary>
    public ValueTask TakeAsync(long cost, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (_inFlight == 0 || _inFlight + cost <= limit)
            {
                _inFlight += cost;
                return ValueTask.CompletedTask;
            }

            _wanted = cost;
            _waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return new ValueTask(_waiter.Task.WaitAsync(cancellationToken));
        }
    }

    public void Release(long cost)
    {
        if (cost == 0)
        {
            return;
        }

        TaskCompletionSource? wake = null;
        lock (_lock)
        {
            _inFlight -= cost;
            if (_waiter is not null && (_inFlight == 0 || _inFlight + _wanted <= limit))
            {
                _inFlight += _wanted;
                wake = _waiter;
                _waiter = null;
            }
        }

        wake?.TrySetResult();
    }
}
