using System.Collections.Concurrent;
using MassTransit;
using Teleport.Contracts;

namespace Teleport.EndToEnd.Tests.Fixtures;

/// <summary>
/// Records every migration event published on the test broker, with the time it arrived here (on a queue of its
/// own, deleted when it stops): what `teleport watch` would see.
/// </summary>
public sealed class EventWatch : IAsyncDisposable,
    IConsumer<DestinationPrepared>, IConsumer<IndexStreamed>, IConsumer<BlocksRequested>, IConsumer<CopyRoundCompleted>,
    IConsumer<DirtyBelowThreshold>, IConsumer<VmPaused>, IConsumer<TargetSwitched>, IConsumer<MigrationCompleted>,
    IConsumer<VmResumed>, IConsumer<TargetSwitchedBack>, IConsumer<HostOperationFailed>, IConsumer<TransferFailed>,
    IConsumer<TransferAborted>, IConsumer<MigrationSucceeded>, IConsumer<MigrationFailed>,
    IConsumer<MemoryPreSwitchover>, IConsumer<VmMemoryMigrated>, IConsumer<MemoryMigrationProgress>, IConsumer<IncomingVmDiscarded>
{
    private readonly ConcurrentQueue<WatchedEvent> _events = new();
    private IBusControl? _bus;

    /// <summary>A RabbitMQ bus of its own that publishes and records.</summary>
    public IBus Bus => _bus ?? throw new InvalidOperationException("not started");

    /// <param name="bus">The broker address; by default the test broker as the operator user.</param>
    public static async Task<EventWatch> StartAsync(string? bus = null)
    {
        var watch = new EventWatch();
        watch._bus = MassTransit.Bus.Factory.CreateUsingRabbitMq(cfg =>
        {
            cfg.UseTestBroker(bus ?? TestBroker.Operator);
            cfg.ReceiveEndpoint($"teleport-migrate-{Guid.NewGuid():N}", e =>
            {
                e.AutoDelete = true;
                e.Durable = false;
                e.Instance(watch);
            });
        });
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await watch._bus.StartAsync(cts.Token);
        return watch;
    }

    /// <summary>Everything recorded about migration <paramref name="id"/>, in arrival order.</summary>
    public IReadOnlyList<WatchedEvent> Of(Guid id) => [.. _events.Where(e => e.MigrationId == id)];

    public T? Last<T>(Guid id)
        where T : class => Of(id).Select(e => e.Message).OfType<T>().LastOrDefault();

    /// <summary>Waits for the migration's MigrationSucceeded or MigrationFailed.</summary>
    public async Task<object> OutcomeAsync(Guid id, TimeSpan timeout)
    {
        var until = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < until)
        {
            if (Of(id).Select(e => e.Message).FirstOrDefault(m => m is MigrationSucceeded or MigrationFailed) is { } outcome)
                return outcome;
            await Task.Delay(20);
        }

        throw new TimeoutException($"migration {id} neither succeeded nor failed within {timeout.TotalSeconds:0} s; events: {Describe(id)}");
    }

    /// <summary>Waits for storage <paramref name="storageId"/>'s TransferAborted of the migration (the saga sends aborts with MigrationFailed: they may arrive just after it).</summary>
    public async Task AbortedAsync(Guid id, string storageId, TimeSpan timeout)
    {
        var until = DateTime.UtcNow + timeout;
        while (Of(id).Select(e => e.Message).OfType<TransferAborted>().All(a => a.StorageId != storageId))
        {
            Assert.True(DateTime.UtcNow < until, $"storage {storageId} never acknowledged the abort of migration {id}: {Describe(id)}");
            await Task.Delay(20);
        }
    }

    public string Describe(Guid id) => string.Join("; ", Of(id).Select(e => e.Message.GetType().Name));

    public Task Consume(ConsumeContext<DestinationPrepared> context) => Record(context.Message.MigrationId, context.Message);

    public Task Consume(ConsumeContext<IndexStreamed> context) => Record(context.Message.MigrationId, context.Message);

    public Task Consume(ConsumeContext<BlocksRequested> context) => Record(context.Message.MigrationId, context.Message);

    public Task Consume(ConsumeContext<CopyRoundCompleted> context) => Record(context.Message.MigrationId, context.Message);

    public Task Consume(ConsumeContext<DirtyBelowThreshold> context) => Record(context.Message.MigrationId, context.Message);

    public Task Consume(ConsumeContext<VmPaused> context) => Record(context.Message.MigrationId, context.Message);

    public Task Consume(ConsumeContext<TargetSwitched> context) => Record(context.Message.MigrationId, context.Message);

    public Task Consume(ConsumeContext<MigrationCompleted> context) => Record(context.Message.MigrationId, context.Message);

    public Task Consume(ConsumeContext<VmResumed> context) => Record(context.Message.MigrationId, context.Message);

    public Task Consume(ConsumeContext<TargetSwitchedBack> context) => Record(context.Message.MigrationId, context.Message);

    public Task Consume(ConsumeContext<HostOperationFailed> context) => Record(context.Message.MigrationId, context.Message);

    public Task Consume(ConsumeContext<TransferFailed> context) => Record(context.Message.MigrationId, context.Message);

    public Task Consume(ConsumeContext<TransferAborted> context) => Record(context.Message.MigrationId, context.Message);

    public Task Consume(ConsumeContext<MigrationSucceeded> context) => Record(context.Message.MigrationId, context.Message);

    public Task Consume(ConsumeContext<MigrationFailed> context) => Record(context.Message.MigrationId, context.Message);

    public Task Consume(ConsumeContext<MemoryPreSwitchover> context) => Record(context.Message.MigrationId, context.Message);

    public Task Consume(ConsumeContext<VmMemoryMigrated> context) => Record(context.Message.MigrationId, context.Message);

    public Task Consume(ConsumeContext<MemoryMigrationProgress> context) => Record(context.Message.MigrationId, context.Message);

    public Task Consume(ConsumeContext<IncomingVmDiscarded> context) => Record(context.Message.MigrationId, context.Message);

    private Task Record(Guid id, object message)
    {
        _events.Enqueue(new WatchedEvent(id, message, DateTimeOffset.UtcNow));
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
