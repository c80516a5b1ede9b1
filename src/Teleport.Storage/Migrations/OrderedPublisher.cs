using System.Threading.Channels;

namespace Teleport.Storage.Migrations;

/// <summary>
/// Publishes one migration's events in the order they happened without blocking the session's tasks that report
/// them (observers must return quickly). The publish itself logs a failure; the saga's deadlines cover a lost event.
/// </summary>
internal sealed class OrderedPublisher
{
    private readonly Channel<object> _queue = Channel.CreateUnbounded<object>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Func<object, Task> _publish;
    private readonly Task _pump;

    public OrderedPublisher(Func<object, Task> publish)
    {
        _publish = publish;
        _pump = Task.Run(PumpAsync);
    }

    public void Post(object message) => _queue.Writer.TryWrite(message);

    /// <summary>Publishes what is queued and stops.</summary>
    public Task DrainAsync()
    {
        _queue.Writer.TryComplete();
        return _pump;
    }

    private async Task PumpAsync()
    {
        await foreach (object? message in _queue.Reader.ReadAllAsync().ConfigureAwait(false))
            await _publish(message).ConfigureAwait(false);
    }
}
