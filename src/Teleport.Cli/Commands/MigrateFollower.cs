using System.Threading.Channels;
using MassTransit;
using Teleport.Contracts;

namespace Teleport.Cli.Commands;

/// <summary>
/// Hears one migration's events on a private auto-delete queue bound to the event exchanges, declared before the
/// request is published so that nothing is missed; events of other migrations are dropped here.
/// </summary>
public sealed class MigrateFollower(Guid migrationId)
{
    private readonly Channel<object> _events = Channel.CreateUnbounded<object>(new UnboundedChannelOptions { SingleReader = true });

    public ChannelReader<object> Events => _events.Reader;

    public string QueueName => $"teleport-migrate-{migrationId:N}";

    public void Configure(IRabbitMqBusFactoryConfigurator cfg) =>
        cfg.ReceiveEndpoint(QueueName, e =>
        {
            e.AutoDelete = true;
            e.Durable = false;
            Hear<DestinationPrepared>(e, m => m.MigrationId);
            Hear<IndexStreamed>(e, m => m.MigrationId);
            Hear<BlocksRequested>(e, m => m.MigrationId);
            Hear<CopyRoundCompleted>(e, m => m.MigrationId);
            Hear<DirtyBelowThreshold>(e, m => m.MigrationId);
            Hear<VmPaused>(e, m => m.MigrationId);
            Hear<TargetSwitched>(e, m => m.MigrationId);
            Hear<MigrationCompleted>(e, m => m.MigrationId);
            Hear<VmResumed>(e, m => m.MigrationId);
            Hear<TransferFailed>(e, m => m.MigrationId);
            Hear<HostOperationFailed>(e, m => m.MigrationId);
            Hear<TargetSwitchedBack>(e, m => m.MigrationId);
            Hear<MigrationSucceeded>(e, m => m.MigrationId);
            Hear<MigrationFailed>(e, m => m.MigrationId);
            Hear<VmDescribed>(e, m => m.MigrationId);
            Hear<IncomingVmPrepared>(e, m => m.MigrationId);
            Hear<MemoryMigrationProgress>(e, m => m.MigrationId);
            Hear<MemoryPreSwitchover>(e, m => m.MigrationId);
            Hear<VmMemoryMigrated>(e, m => m.MigrationId);
        });

    private void Hear<T>(IRabbitMqReceiveEndpointConfigurator endpoint, Func<T, Guid> idOf)
        where T : class =>
        endpoint.Handler<T>(context =>
        {
            if (idOf(context.Message) == migrationId)
                _events.Writer.TryWrite(context.Message);
            return Task.CompletedTask;
        });
}
