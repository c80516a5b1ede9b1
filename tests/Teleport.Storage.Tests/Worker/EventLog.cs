using System.Collections.Concurrent;

namespace Teleport.Storage.Tests.Worker;

/// <summary>Every event the test's saga stand-in received, in arrival order.</summary>
public sealed class EventLog
{
    private readonly ConcurrentQueue<object> _events = new();

    public void Add(object message) => _events.Enqueue(message);

    public IReadOnlyList<T> All<T>(Func<T, bool>? match = null) => _events.OfType<T>().Where(m => match?.Invoke(m) ?? true).ToArray();

    /// <summary>The first event of type T matching, waiting up to <paramref name="timeout"/>; fails naming what did arrive.</summary>
    public async Task<T> WaitFor<T>(Func<T, bool> match, TimeSpan timeout)
    {
        var until = DateTime.UtcNow + timeout;
        while (true)
        {
            var found = _events.OfType<T>().FirstOrDefault(match);
            if (found is not null)
                return found;
            if (DateTime.UtcNow > until)
                throw new TimeoutException($"no {typeof(T).Name} within {timeout.TotalSeconds} s; received: " +
                    string.Join(", ", _events.Select(e => e.ToString())));
            await Task.Delay(50);
        }
    }
}
