namespace Teleport.Contracts.Tests;

/// <summary>What the test consumers received, kept in arrival order for the test to wait on and inspect.</summary>
public sealed class ReceivedMessages
{
    private readonly object _gate = new();
    private readonly List<ReceivedMessage> _all = [];
    private TaskCompletionSource _changed = NewSignal();

    public void Add(ReceivedMessage message)
    {
        TaskCompletionSource changed;
        lock (_gate)
        {
            _all.Add(message);
            changed = _changed;
            _changed = NewSignal();
        }

        changed.SetResult();
    }

    /// <summary>Everything received so far.</summary>
    public IReadOnlyList<ReceivedMessage> Snapshot()
    {
        lock (_gate)
        {
            return [.. _all];
        }
    }

    /// <summary>Waits until a message of type T matching the predicate has arrived (or had already).</summary>
    public async Task<(T Message, ReceivedMessage Envelope)> WaitFor<T>(Func<T, bool> match, TimeSpan timeout)
        where T : class
    {
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                foreach (var arrival in _all)
                {
                    if (arrival.Message is T typed && match(typed))
                    {
                        return (typed, arrival);
                    }
                }

                changed = _changed.Task;
            }

            try
            {
                await changed.WaitAsync(cts.Token);
            }
            catch (OperationCanceledException) when (cts.IsCancellationRequested)
            {
                throw new TimeoutException(
                    $"No matching {typeof(T).Name} arrived through RabbitMQ within {timeout.TotalSeconds:0}s " +
                    $"(received meanwhile: {string.Join(", ", Snapshot().Select(m => m.Message.GetType().Name))}).");
            }
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
