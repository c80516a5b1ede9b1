using MassTransit;
using Teleport.Contracts;

namespace Teleport.Host.Worker;

/// <summary>Takes the saga's commands from the host's queue and publishes what the operation answered.</summary>
public sealed class HostCommandConsumer(HostWorkerNode node) :
    IConsumer<PauseVm>, IConsumer<SwitchTarget>, IConsumer<SwitchBack>, IConsumer<ResumeVm>,
    IConsumer<DescribeVm>, IConsumer<PrepareIncomingVm>, IConsumer<MigrateVmMemory>, IConsumer<ContinueVmMigration>,
    IConsumer<DiscardIncomingVm>, IConsumer<StopSourceVm>
{
    // A pause that carries the host's own cut-over is reported by it (LocalCutOver), unless it was a repeat or failed.
    public async Task Consume(ConsumeContext<PauseVm> context)
    {
        object? answer = node.CutOver.Carries(context.Message)
            ? await node.CutOver.RunAsync(context.Message, context.CancellationToken).ConfigureAwait(false)
            : await node.Operations.PauseAsync(context.Message, context.CancellationToken).ConfigureAwait(false);
        await ReplyAsync(context, answer).ConfigureAwait(false);
    }

    public async Task Consume(ConsumeContext<SwitchTarget> context) =>
        await ReplyAsync(context, await node.Operations.SwitchAsync(context.Message, context.CancellationToken).ConfigureAwait(false)).ConfigureAwait(false);

    public async Task Consume(ConsumeContext<SwitchBack> context) =>
        await ReplyAsync(context, await node.Operations.SwitchBackAsync(context.Message, context.CancellationToken).ConfigureAwait(false)).ConfigureAwait(false);

    public async Task Consume(ConsumeContext<ResumeVm> context) =>
        await ReplyAsync(context, await node.Operations.ResumeAsync(context.Message, context.CancellationToken).ConfigureAwait(false)).ConfigureAwait(false);

    public async Task Consume(ConsumeContext<DescribeVm> context) =>
        await ReplyAsync(context, await node.Memory.DescribeAsync(context.Message, context.CancellationToken).ConfigureAwait(false)).ConfigureAwait(false);

    public async Task Consume(ConsumeContext<PrepareIncomingVm> context) =>
        await ReplyAsync(context, await node.Incoming.PrepareAsync(context.Message, context.CancellationToken).ConfigureAwait(false)).ConfigureAwait(false);

    public async Task Consume(ConsumeContext<MigrateVmMemory> context) =>
        await ReplyAsync(context, await node.Memory.MigrateAsync(context.Message, p => context.Publish(p, context.CancellationToken),
            context.CancellationToken).ConfigureAwait(false)).ConfigureAwait(false);

    public async Task Consume(ConsumeContext<ContinueVmMigration> context) =>
        await ReplyAsync(context, await node.Memory.ContinueAsync(context.Message, context.CancellationToken).ConfigureAwait(false)).ConfigureAwait(false);

    public async Task Consume(ConsumeContext<DiscardIncomingVm> context) =>
        await ReplyAsync(context, await node.Incoming.DiscardAsync(context.Message, context.CancellationToken).ConfigureAwait(false)).ConfigureAwait(false);

    public async Task Consume(ConsumeContext<StopSourceVm> context) =>
        await ReplyAsync(context, await node.Memory.StopSourceAsync(context.Message, context.CancellationToken).ConfigureAwait(false)).ConfigureAwait(false);

    private static Task ReplyAsync(ConsumeContext context, object? reply) =>
        reply is null ? Task.CompletedTask : context.Publish(reply, reply.GetType(), context.CancellationToken);
}
