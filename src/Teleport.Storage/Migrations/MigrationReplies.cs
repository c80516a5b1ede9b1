using MassTransit;
using Microsoft.Extensions.Logging;
using Teleport.Contracts;
using Teleport.Messaging;

namespace Teleport.Storage.Migrations;

/// <summary>How this worker answers the saga: events published by their own type, a failed publish tried again, then logged and dropped (the saga's nudges and deadlines cover it).</summary>
internal sealed class MigrationReplies(string storageId, Func<IPublishEndpoint> bus, ILogger log)
{
    public string StorageId { get; } = storageId;

    public Func<IPublishEndpoint> Bus { get; } = bus;

    public TransferFailed Failure(Guid migrationId, string phase, string reason, int attempt) =>
        new(migrationId, StorageId, phase, reason, DateTimeOffset.UtcNow, attempt);

    public Task FailedAsync(Guid migrationId, string phase, string reason, int attempt) => PublishAsync(Failure(migrationId, phase, reason, attempt));

    // Beyond this an event is dropped (logged): the saga's nudges and deadlines cover it, and a migration's later events
    // and its end no longer wait behind it.
    private static readonly TimeSpan GiveUpAfter = TimeSpan.FromMinutes(2);

    // By the message's own type: a repeat is held as object, which would otherwise be published as System.Object.
    // Each attempt bounded: a publish caught in a broker node's failover may never complete (PublishRetry).
    public async Task PublishAsync(object message)
    {
        string name = message.GetType().Name;
        bool taken = await PublishRetry.UntilTakenAsync(() => Bus().Publish(message, message.GetType()), GiveUpAfter, TimeProvider.System,
            (e, delay) => log.LogWarning("Could not publish {Event} ({Reason}); trying again in {DelayMs:0} ms", name, e.Message, delay.TotalMilliseconds),
            CancellationToken.None).ConfigureAwait(false);
        if (!taken)
            log.LogError("Could not publish {Event} within {GiveUp}: dropped (the saga's nudges ask again)", name, GiveUpAfter);
    }

    /// <summary>A queue for one migration's events, published in the order they happened.</summary>
    public OrderedPublisher Ordered() => new(PublishAsync);
}
