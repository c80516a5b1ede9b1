using MassTransit;
using Microsoft.Extensions.Logging;
using Teleport.Contracts;

namespace Teleport.Storage.Migrations;

/// <summary>How this worker answers the saga: events published by their own type, a failed publish logged (the saga's deadlines cover it).</summary>
internal sealed class MigrationReplies(string storageId, Func<IPublishEndpoint> bus, ILogger log)
{
    public string StorageId { get; } = storageId;

    public Func<IPublishEndpoint> Bus { get; } = bus;

    public TransferFailed Failure(Guid migrationId, string phase, string reason, int attempt) =>
        new(migrationId, StorageId, phase, reason, DateTimeOffset.UtcNow, attempt);

    public Task FailedAsync(Guid migrationId, string phase, string reason, int attempt) => PublishAsync(Failure(migrationId, phase, reason, attempt));

    // By the message's own type: a repeat is held as object, which would otherwise be published as System.Object.
    public async Task PublishAsync(object message)
    {
        try
        {
            await Bus().Publish(message, message.GetType()).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            log.LogError(e, "Could not publish {Event}", message.GetType().Name);
        }
    }

    /// <summary>A queue for one migration's events, published in the order they happened.</summary>
    public OrderedPublisher Ordered() => new(PublishAsync);
}
