using Teleport.Contracts;
using Teleport.Transfer;

namespace Teleport.Storage.Migrations;

/// <summary>An incoming migration: the listening session and the DestinationPrepared a duplicate command gets again.</summary>
internal sealed class DestinationMigration(
    Guid migrationId, int attempt, string volumeId, DestinationSession session, DestinationEventObserver observer, OrderedPublisher events,
    DestinationPrepared prepared)
{
    public Guid MigrationId { get; } = migrationId;

    public int Attempt { get; } = attempt;

    public string VolumeId { get; } = volumeId;

    public DestinationSession Session { get; } = session;

    public DestinationEventObserver Observer { get; } = observer;

    public OrderedPublisher Events { get; } = events;

    public DestinationPrepared Prepared { get; } = prepared;

    public CancellationTokenSource Stop { get; } = new();

    public Task Run { get; set; } = Task.CompletedTask;

    public volatile bool Completed;
}
