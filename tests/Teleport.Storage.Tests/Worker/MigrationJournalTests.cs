using Microsoft.Extensions.Logging.Abstractions;
using Teleport.Storage.Migrations;

namespace Teleport.Storage.Tests.Worker;

/// <summary>The journal a restarted worker reads: entries round-trip, damaged files are dropped without losing the others.</summary>
public sealed class MigrationJournalTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("teleport-journal-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public void Entries_round_trip_and_damaged_or_misnamed_files_are_dropped()
    {
        var journal = new MigrationJournal(_root, NullLogger.Instance);
        var source = new JournalEntry(Guid.NewGuid(), MigrationRole.Source, "lamp", 3, "Copy", false, DateTimeOffset.UtcNow);
        var destination = new JournalEntry(source.MigrationId, MigrationRole.Destination, "lamp", 3, "Request", true, DateTimeOffset.UtcNow);
        journal.Write(source);
        journal.Write(destination);
        journal.Write(source with { Phase = "CutOver" });
        string truncated = Path.Combine(journal.Directory, $"{Guid.NewGuid():N}-source.json");
        File.WriteAllText(truncated, "{\"MigrationId\":");
        string misnamed = Path.Combine(journal.Directory, $"{Guid.NewGuid():N}-destination.json");
        File.Copy(Directory.GetFiles(journal.Directory, "*-source.json").First(p => p != truncated), misnamed);

        var loaded = new MigrationJournal(_root, NullLogger.Instance).Load().OrderBy(e => e.Role).ToArray();

        Assert.Equal([source with { Phase = "CutOver" }, destination], loaded);
        Assert.False(File.Exists(truncated));
        Assert.False(File.Exists(misnamed));
        journal.Remove(source.MigrationId, MigrationRole.Source);
        Assert.Equal([destination], journal.Load());
    }
}
