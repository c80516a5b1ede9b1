using Teleport.Contracts;
using Teleport.Transfer;

namespace Teleport.Storage.Migrations;

/// <summary>A running (or finished) outgoing migration of one volume.</summary>
internal sealed class SourceMigration(StartTransfer command, long volumeBytes, SourceSession session, SourceEventObserver observer, OrderedPublisher events)
    : MigrationSide(command.MigrationId, command.Attempt, command.VolumeId, events)
{
    private volatile MigrationCompleted? _completion;

    public string DestinationStorageId { get; } = command.DestinationStorageId;

    public long VolumeBytes { get; } = volumeBytes;

    public SourceSession Session { get; } = session;

    public SourceEventObserver Observer { get; } = observer;

    /// <summary>
    /// Set once the final sync is verified: what the destination reported as MigrationCompleted, from the source's
    /// figures of the same transfer; a duplicate FinalSync gets it again (the destination's event may have been lost).
    /// </summary>
    public MigrationCompleted? Completion
    {
        get => _completion;
        set => _completion = value;
    }

    public override bool Completed => _completion is not null;
}
