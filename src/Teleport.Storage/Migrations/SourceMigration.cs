using Teleport.Transfer;

namespace Teleport.Storage.Migrations;

/// <summary>A running (or finished) outgoing migration of one volume.</summary>
internal sealed class SourceMigration(Guid migrationId, int attempt, string volumeId, SourceSession session, SourceEventObserver observer, OrderedPublisher events)
{
    public Guid MigrationId { get; } = migrationId;

    public int Attempt { get; } = attempt;

    public string VolumeId { get; } = volumeId;

    public SourceSession Session { get; } = session;

    public SourceEventObserver Observer { get; } = observer;

    public OrderedPublisher Events { get; } = events;

    public CancellationTokenSource Stop { get; } = new();

    public Task Run { get; set; } = Task.CompletedTask;

    public volatile bool Completed;
}
