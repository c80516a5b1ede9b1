using Teleport.Contracts;
using Teleport.Transfer;

namespace Teleport.Storage.Migrations;

/// <summary>An incoming migration: the listening session and the DestinationPrepared a duplicate command gets again.</summary>
internal sealed class DestinationMigration(
    PrepareDestination command, DestinationSession session, DestinationEventObserver observer, OrderedPublisher events, DestinationPrepared prepared,
    JournalEntry journal)
    : MigrationSide(command.MigrationId, command.Attempt, command.VolumeId, events)
{
    private volatile bool _completed;
    private volatile bool _served;

    public DestinationSession Session { get; } = session;

    public DestinationEventObserver Observer { get; } = observer;

    public DestinationPrepared Prepared { get; } = prepared;

    /// <summary>The journal entry as first written; phase updates and the completion are written from it.</summary>
    public JournalEntry Journal { get; } = journal;

    public override bool Completed => _completed;

    public void MarkCompleted() => _completed = true;

    /// <summary>The volume is served to VMs before it completed (a fenced cut-over): a failure must not drop it unnoticed.</summary>
    public bool Served => _served;

    public void MarkServed() => _served = true;
}
