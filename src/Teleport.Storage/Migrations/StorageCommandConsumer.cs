using MassTransit;
using Teleport.Contracts;

namespace Teleport.Storage.Migrations;

/// <summary>The commands on the worker's own queue; each hands over to <see cref="StorageMigrations"/> and returns.</summary>
public sealed class StorageCommandConsumer(StorageMigrations migrations, Action<string, Guid>? release = null) :
    IConsumer<PrepareDestination>, IConsumer<StartTransfer>, IConsumer<FinalSync>, IConsumer<AbortTransfer>, IConsumer<ReleaseSourceVolume>
{
    public Task Consume(ConsumeContext<PrepareDestination> context) => migrations.PrepareDestinationAsync(context.Message);

    public Task Consume(ConsumeContext<StartTransfer> context) => migrations.StartTransferAsync(context.Message);

    public Task Consume(ConsumeContext<FinalSync> context) => migrations.FinalSyncAsync(context.Message);

    public Task Consume(ConsumeContext<AbortTransfer> context) => migrations.AbortAsync(context.Message);

    public Task Consume(ConsumeContext<ReleaseSourceVolume> context) => migrations.ReleaseSourceAsync(context.Message, release ?? ((_, _) => { }));
}
