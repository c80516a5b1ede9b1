using Teleport.Contracts;
using Teleport.Transfer;

namespace Teleport.Storage.Migrations;

/// <summary>A running (or finished) outgoing migration of one volume.</summary>
internal sealed class SourceMigration(
    Guid migrationId, int attempt, string volumeId, string destinationStorageId, long volumeBytes, SourceSession session, SourceEventObserver observer,
    OrderedPublisher events)
{
    private volatile MigrationCompleted? _completion;

    public Guid MigrationId { get; } = migrationId;

    public int Attempt { get; } = attempt;

    public string VolumeId { get; } = volumeId;

    public string DestinationStorageId { get; } = destinationStorageId;

    public long VolumeBytes { get; } = volumeBytes;

    public SourceSession Session { get; } = session;

    public SourceEventObserver Observer { get; } = observer;

    public OrderedPublisher Events { get; } = events;

    public CancellationTokenSource Stop { get; } = new();

    public Task Run { get; set; } = Task.CompletedTask;

    /// <summary>
    /// Set once the final sync is verified: what the destination reported as MigrationCompleted, from the source's
    /// figures of the same transfer; a duplicate FinalSync gets it again (the destination's event may have been lost).
    /// </summary>
    public MigrationCompleted? Completion
    {
        get => _completion;
        set => _completion = value;
    }

    public bool Completed => _completion is not null;
}
