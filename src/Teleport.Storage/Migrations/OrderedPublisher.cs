using System.Threading.Channels;
using MassTransit;
using Microsoft.Extensions.Logging;

namespace Teleport.Storage.Migrations;

/// <summary>
/// Publishes one migration's events in the order they happened without blocking the session's tasks that report
/// them (observers must return quickly). A failed publish is logged; the saga's deadlines cover a lost event.
/// </summary>
internal sealed class OrderedPublisher
{
    private readonly Channel<object> _queue = Channel.CreateUnbounded<object>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Func<IPublishEndpoint> _bus;
    private readonly ILogger _log;
    private readonly Task _pump;

    public OrderedPublisher(Func<IPublishEndpoint> bus, ILogger log)
    {
        _bus = bus;
        _log = log;
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
        await foreach (var message in _queue.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            try
            {
                await _bus().Publish(message, message.GetType()).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                _log.LogError(e, "Could not publish {Event}", message.GetType().Name);
            }
        }
    }
}
