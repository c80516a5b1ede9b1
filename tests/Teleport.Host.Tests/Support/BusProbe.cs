using System.Collections.Concurrent;
using MassTransit;
using Teleport.Contracts;
using Teleport.Host.Worker;

namespace Teleport.Host.Tests.Support;

/// <summary>
/// Plays the saga's part on the real broker: sends commands to a host worker's queue and records the host events
/// published (on a queue of its own, deleted when it stops).
/// </summary>
internal sealed class BusProbe : IAsyncDisposable, IConsumer<VmPaused>, IConsumer<TargetSwitched>, IConsumer<TargetSwitchedBack>,
    IConsumer<VmResumed>, IConsumer<HostOperationFailed>
{
    public static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    private readonly ConcurrentQueue<object> _events = new();
    private IBusControl? _bus;

    public IReadOnlyList<object> Events => [.. _events];

    /// <summary>Records what it consumes (connect it with <c>e.Instance(recorder)</c>); <see cref="StartAsync"/> gives one with its own RabbitMQ bus.</summary>
    public static BusProbe Recorder() => new();

    public static async Task<BusProbe> StartAsync()
    {
        var probe = new BusProbe();
        probe._bus = MassTransit.Bus.Factory.CreateUsingRabbitMq(cfg =>
        {
            cfg.UseTestBroker();
            cfg.ReceiveEndpoint($"host-tests-probe-{Guid.NewGuid():N}", e =>
            {
                e.AutoDelete = true;
                e.Durable = false;
                e.Instance(probe);
            });
        });
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await probe._bus.StartAsync(cts.Token);
        return probe;
    }

    public async Task SendAsync<T>(string hostId, T command)
        where T : class
    {
        var endpoint = await _bus!.GetSendEndpoint(new Uri($"queue:{WorkerQueues.Host(hostId)}"));
        await endpoint.Send(command);
    }

    /// <summary>Sends <paramref name="command"/> and waits for the next event of this migration (any host event).</summary>
    public async Task<object> AskAsync<T>(string hostId, T command, Guid migrationId)
        where T : class
    {
        int before = Of(migrationId).Count;
        await SendAsync(hostId, command);
        return await NextAsync(migrationId, before);
    }

    /// <summary>Waits until the migration has more than <paramref name="count"/> events and returns event number count+1.</summary>
    public async Task<object> NextAsync(Guid migrationId, int count)
    {
        return await NextAsync(e => MigrationIdOf(e) == migrationId, count, $"migration {migrationId}");
    }

    /// <summary>Waits for event number count+1 among those matching <paramref name="match"/>.</summary>
    public async Task<object> NextAsync(Func<object, bool> match, int count, string what)
    {
        var until = DateTime.UtcNow + Wait;
        while (DateTime.UtcNow < until)
        {
            var events = _events.Where(match).ToList();
            if (events.Count > count)
                return events[count];
            await Task.Delay(10);
        }

        throw new TimeoutException($"no host event #{count + 1} for {what}; seen: {string.Join(", ", _events.Where(match))}");
    }

    public List<object> Of(Guid migrationId) => [.. _events.Where(e => MigrationIdOf(e) == migrationId)];

    public static Guid MigrationIdOf(object e) => (Guid)e.GetType().GetProperty("MigrationId")!.GetValue(e)!;

    public Task Consume(ConsumeContext<VmPaused> context) => Record(context.Message);

    public Task Consume(ConsumeContext<TargetSwitched> context) => Record(context.Message);

    public Task Consume(ConsumeContext<TargetSwitchedBack> context) => Record(context.Message);

    public Task Consume(ConsumeContext<VmResumed> context) => Record(context.Message);

    public Task Consume(ConsumeContext<HostOperationFailed> context) => Record(context.Message);

    private Task Record(object message)
    {
        _events.Enqueue(message);
        return Task.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        if (_bus is not null)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await _bus.StopAsync(cts.Token);
        }
    }
}
