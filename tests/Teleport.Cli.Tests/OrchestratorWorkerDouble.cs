using MassTransit;
using Teleport.Contracts;

namespace Teleport.Cli.Tests;

/// <summary>
/// Plays the storage and host workers of one test on the real broker. How it answers depends on the volume's name:
/// "ok-*" migrates, "fail-*" fails its first attempt's transfer, "stall-*" never finishes indexing. It answers only
/// commands sent by the orchestrator under test (others on the same broker consume every MigrationRequested too).
/// </summary>
public sealed class OrchestratorWorkerDouble(string orchestratorQueue) :
    IConsumer<PrepareDestination>,
    IConsumer<StartTransfer>,
    IConsumer<PauseVm>,
    IConsumer<SwitchTarget>,
    IConsumer<FinalSync>,
    IConsumer<ResumeVm>,
    IConsumer<SwitchBack>,
    IConsumer<AbortTransfer>
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.Parse("2026-11-24T22:00:00Z");

    public Task Consume(ConsumeContext<PrepareDestination> context) =>
        Answer(context, c => new DestinationPrepared(c.MigrationId, c.DestinationStorageId, c.VolumeId, "127.0.0.1:7000", "secret", null,
            "127.0.0.1:10809", c.VolumeId, T0, c.Attempt));

    public async Task Consume(ConsumeContext<StartTransfer> context)
    {
        var c = context.Message;
        if (!Mine(context) || c.VolumeId.StartsWith("stall-", StringComparison.Ordinal))
            return;
        if (c.VolumeId.StartsWith("fail-", StringComparison.Ordinal) && c.Attempt == 1)
        {
            await context.Publish(new IndexStreamed(c.MigrationId, 1L << 20, 256, 10, 4096, T0.AddSeconds(1), c.Attempt));
            await context.Publish(new BlocksRequested(c.MigrationId, 200, 46, T0.AddSeconds(2), c.Attempt));
            // Fail once the saga is copying (it handles events concurrently, so order on the wire is not enough).
            await Task.Delay(TimeSpan.FromMilliseconds(500));
            await context.Publish(new TransferFailed(c.MigrationId, c.SourceStorageId, "copy", "disk read error at block 17", T0.AddSeconds(3), c.Attempt));
            return;
        }

        await context.Publish(new IndexStreamed(c.MigrationId, 1L << 20, 256, 10, 4096, T0.AddSeconds(1), c.Attempt));
        await context.Publish(new BlocksRequested(c.MigrationId, 200, 46, T0.AddSeconds(2), c.Attempt));
        await context.Publish(new CopyRoundCompleted(c.MigrationId, 1, 46, 188_416, 3, 1e6, T0.AddSeconds(3), c.Attempt));
        await context.Publish(new CopyRoundCompleted(c.MigrationId, 2, 3, 12_288, 1, 1e6, T0.AddSeconds(4), c.Attempt));
        await context.Publish(new DirtyBelowThreshold(c.MigrationId, 2, 1, false, T0.AddSeconds(5), c.Attempt));
    }

    public Task Consume(ConsumeContext<PauseVm> context) =>
        Answer(context, c => new VmPaused(c.MigrationId, c.VmId, c.HostId, T0.AddSeconds(6), c.Attempt));

    public Task Consume(ConsumeContext<SwitchTarget> context) =>
        Answer(context, c => new TargetSwitched(c.MigrationId, c.VmId, c.HostId, c.StorageId, T0.AddSeconds(6.1), c.Attempt));

    public Task Consume(ConsumeContext<FinalSync> context) =>
        Answer(context, c => new MigrationCompleted(c.MigrationId, "destination", c.VolumeId, true, 1L << 20, 204_800, 200, 50, 3, T0.AddSeconds(6.2), c.Attempt));

    public Task Consume(ConsumeContext<ResumeVm> context) =>
        Answer(context, c => new VmResumed(c.MigrationId, c.VmId, c.HostId, T0.AddSeconds(6.3), c.Attempt));

    public Task Consume(ConsumeContext<SwitchBack> context) =>
        Answer(context, c => new TargetSwitchedBack(c.MigrationId, c.VmId, c.HostId, c.SourceStorageId, T0.AddSeconds(7), c.Attempt));

    public Task Consume(ConsumeContext<AbortTransfer> context) =>
        Answer(context, c => new TransferAborted(c.MigrationId, c.StorageId, T0.AddSeconds(8), c.Attempt));

    private Task Answer<TCommand, TEvent>(ConsumeContext<TCommand> context, Func<TCommand, TEvent> answer)
        where TCommand : class
        where TEvent : class =>
        Mine(context) ? context.Publish(answer(context.Message)) : Task.CompletedTask;

    private bool Mine(ConsumeContext context) =>
        context.SourceAddress?.AbsolutePath.TrimEnd('/').EndsWith("/" + orchestratorQueue, StringComparison.Ordinal) == true;
}
