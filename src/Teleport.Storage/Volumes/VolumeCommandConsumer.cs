using MassTransit;
using Teleport.Contracts;

namespace Teleport.Storage.Volumes;

/// <summary>CreateVolume and DeleteVolume on the worker's own queue.</summary>
public sealed class VolumeCommandConsumer(VolumeOperations volumes) : IConsumer<CreateVolume>, IConsumer<DeleteVolume>
{
    public Task Consume(ConsumeContext<CreateVolume> context) => volumes.CreateAsync(context.Message);

    public Task Consume(ConsumeContext<DeleteVolume> context) => volumes.DeleteAsync(context.Message);
}
