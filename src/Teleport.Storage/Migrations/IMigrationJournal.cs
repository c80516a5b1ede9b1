namespace Teleport.Storage.Migrations;

/// <summary>Where the sides of this worker's migrations are recorded so a restart can report them (<see cref="MigrationJournal"/>).</summary>
internal interface IMigrationJournal
{
    void Write(JournalEntry entry);

    void Remove(Guid migrationId, MigrationRole role);

    IReadOnlyList<JournalEntry> Load();
}
