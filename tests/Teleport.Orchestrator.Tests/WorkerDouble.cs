using MassTransit;
using Teleport.Contracts;

namespace Teleport.Orchestrator.Tests;

/// <summary>
/// Plays every storage and host worker on a real broker: answers each command with the events a worker would
/// publish, each one twice and all of a phase at once, so the orchestrators see duplicates and any order.
/// </summary>
public sealed class WorkerDouble :
    IConsumer<PrepareDestination>,
    IConsumer<StartTransfer>,
    IConsumer<PauseVm>,
    IConsumer<SwitchTarget>,
    IConsumer<FinalSync>,
    IConsumer<ResumeVm>
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.Parse("2026-11-24T22:00:00Z");

    public Task Consume(ConsumeContext<PrepareDestination> context)
    {
        var c = context.Message;
        return Twice(context, new DestinationPrepared(c.MigrationId, c.DestinationStorageId, c.VolumeId, "127.0.0.1:7000", "secret", null, "127.0.0.1:10809", c.VolumeId, T0, c.Attempt));
    }

    public Task Consume(ConsumeContext<StartTransfer> context)
    {
        var (id, attempt) = (context.Message.MigrationId, context.Message.Attempt);
        return Task.WhenAll(
            Twice(context, new IndexStreamed(id, 1L << 20, 256, 10, 4096, T0.AddSeconds(1), attempt)),
            Twice(context, new BlocksRequested(id, 200, 46, T0.AddSeconds(2), attempt)),
            Twice(context, new CopyRoundCompleted(id, 1, 46, 188_416, 3, 1e6, T0.AddSeconds(3), attempt)),
            Twice(context, new CopyRoundCompleted(id, 2, 3, 12_288, 1, 1e6, T0.AddSeconds(4), attempt)),
            Twice(context, new DirtyBelowThreshold(id, 2, 1, false, T0.AddSeconds(5), attempt)));
    }

    public Task Consume(ConsumeContext<PauseVm> context) =>
        Twice(context, new VmPaused(context.Message.MigrationId, context.Message.VmId, context.Message.HostId, T0.AddSeconds(6), context.Message.Attempt));

    public Task Consume(ConsumeContext<SwitchTarget> context) =>
        Twice(context, new TargetSwitched(context.Message.MigrationId, context.Message.VmId, context.Message.HostId, context.Message.StorageId, T0.AddSeconds(6.1), context.Message.Attempt));

    public Task Consume(ConsumeContext<FinalSync> context) =>
        Twice(context, new MigrationCompleted(context.Message.MigrationId, "destination", context.Message.VolumeId, true,
            1L << 20, 204_800, 200, 50, 3, T0.AddSeconds(6.2), context.Message.Attempt));

    public Task Consume(ConsumeContext<ResumeVm> context) =>
        Twice(context, new VmResumed(context.Message.MigrationId, context.Message.VmId, context.Message.HostId, T0.AddSeconds(6.3), context.Message.Attempt));

    private static Task Twice<T>(ConsumeContext context, T message)
        where T : class =>
        Task.WhenAll(context.Publish(message), context.Publish(message));
}
