namespace Teleport.Host.Switching;

/// <summary>
/// Counts requests in flight to the upstream and, while closed for a switch, holds new ones back until it
/// opens again. Closing returns a task that completes when the last request in flight has left.
/// </summary>
internal sealed class UpstreamGate
{
    private readonly Lock _lock = new();
    private TaskCompletionSource _opened = NewSignal(completed: true);
    private TaskCompletionSource? _drained;
    private int _inFlight;
    private bool _closed;

    public int InFlight
    {
        get
        {
            lock (_lock)
            {
                return _inFlight;
            }
        }
    }

    public ValueTask EnterAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (!_closed)
            {
                _inFlight++;
                return ValueTask.CompletedTask;
            }
        }

        return EnterSlowAsync(cancellationToken);
    }

    private async ValueTask EnterSlowAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            Task opened;
            lock (_lock)
            {
                if (!_closed)
                {
                    _inFlight++;
                    return;
                }

                opened = _opened.Task;
            }

            await opened.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public void Exit()
    {
        lock (_lock)
        {
            _inFlight--;
            if (_closed && _inFlight == 0)
            {
                _drained?.TrySetResult();
            }
        }
    }

    /// <summary>Stops admitting requests; the task completes once none is in flight.</summary>
    public Task CloseAsync()
    {
        lock (_lock)
        {
            if (_closed)
            {
                throw new InvalidOperationException("The gate is already closed.");
            }

            _closed = true;
            _opened = NewSignal(completed: false);
            if (_inFlight == 0)
            {
                _drained = null;
                return Task.CompletedTask;
            }

            _drained = NewSignal(completed: false);
            return _drained.Task;
        }
    }

    public void Open()
    {
        TaskCompletionSource opened;
        lock (_lock)
        {
            _closed = false;
            _drained = null;
            opened = _opened;
        }

        opened.TrySetResult();
    }

    private static TaskCompletionSource NewSignal(bool completed)
    {
        var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (completed)
        {
            signal.SetResult();
        }

        return signal;
    }
}
