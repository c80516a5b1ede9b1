using MassTransit;

namespace Teleport.Contracts.Tests;

/// <summary>Consumes T and hands it, with its envelope, to the test.</summary>
public sealed class RecordingConsumer<T>(ReceivedMessages received) : IConsumer<T>
    where T : class
{
    public Task Consume(ConsumeContext<T> context)
    {
        received.Add(new ReceivedMessage(context.Message, context.DestinationAddress, context.MessageId, context.ReceiveContext.ContentType?.MediaType));
        return Task.CompletedTask;
    }
}
