using MassTransit;

namespace Teleport.Storage.Tests.Worker;

public sealed class RecordingConsumer<T>(EventLog log) : IConsumer<T>
    where T : class
{
    public Task Consume(ConsumeContext<T> context)
    {
        log.Add(context.Message);
        return Task.CompletedTask;
    }
}
