using Microsoft.Extensions.Logging.Abstractions;
using Teleport.Contracts;
using Teleport.Storage.Migrations;

namespace Teleport.Storage.Tests.Migrations;

/// <summary>What a restarted worker makes of its journal: which sides it refuses, which a later attempt or an abort clears.</summary>
public sealed class RestartJournalTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("teleport-restart-journal-").FullName;
    private readonly MigrationJournal _files;
    private readonly PublishedEvents _published;
    private readonly RestartJournal _journal;

    public RestartJournalTests()
    {
        _files = new MigrationJournal(_root, NullLogger.Instance);
        _published = PublishedEvents.Create(out var bus);
        _journal = new RestartJournal(_files, new MigrationReplies("dst-1", bus, NullLogger.Instance), NullLogger.Instance);
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public void Loads_unfinished_sides_keeps_completed_ones_aside_and_drops_expired_ones()
    {
        var unfinished = Entry(MigrationRole.Destination, "lamp", attempt: 2);
        var completed = Entry(MigrationRole.Destination, "desk") with { Completed = true };
        var expired = Entry(MigrationRole.Source, "old") with { StartedAt = DateTimeOffset.UtcNow - TimeSpan.FromDays(8) };
        _files.Write(unfinished);
        _files.Write(completed);
        _files.Write(expired);

        _journal.Load();

        Assert.Equal([unfinished], _journal.Interrupted);
        Assert.Equal([completed, unfinished], _files.Load().OrderBy(e => e.VolumeId));
        Assert.Equal(unfinished.MigrationId, _journal.Receiving("lamp"));
        Assert.Null(_journal.Receiving("lamp", except: unfinished.MigrationId));
        Assert.Null(_journal.Receiving("desk"));
    }

    [Fact]
    public void Refuses_the_interrupted_attempt_and_earlier_ones_and_a_later_attempt_starts_afresh()
    {
        var entry = Entry(MigrationRole.Source, "lamp", attempt: 2);
        _files.Write(entry);
        _journal.Load();

        Assert.Equal(entry, _journal.Refusing(entry.MigrationId, MigrationRole.Source, 1));
        Assert.Equal(entry, _journal.Refusing(entry.MigrationId, MigrationRole.Source, 2));
        Assert.Null(_journal.Refusing(entry.MigrationId, MigrationRole.Destination, 2));
        Assert.Null(_journal.Refusing(Guid.NewGuid(), MigrationRole.Source, 2));
        Assert.Single(_files.Load());

        Assert.Null(_journal.Refusing(entry.MigrationId, MigrationRole.Source, 3));
        Assert.Empty(_journal.Interrupted);
        Assert.Empty(_files.Load());
        Assert.Null(_journal.Refusing(entry.MigrationId, MigrationRole.Source, 2));
    }

    [Fact]
    public void An_abort_forgets_both_sides_up_to_its_attempt_and_names_a_completed_destination()
    {
        var source = Entry(MigrationRole.Source, "lamp", attempt: 1);
        var destination = source with { Role = MigrationRole.Destination, Completed = true };
        var later = Entry(MigrationRole.Source, "desk", attempt: 3);
        foreach (var entry in new[] { source, destination, later })
            _files.Write(entry);
        _journal.Load();

        Assert.Null(_journal.Abort(later.MigrationId, 2));
        Assert.Equal(destination, _journal.Abort(source.MigrationId, 1));

        Assert.Equal([later], _files.Load());
        Assert.Equal([later], _journal.Interrupted);
        Assert.Null(_journal.Abort(source.MigrationId, 1));
    }

    [Fact]
    public async Task Reports_each_unfinished_side_failed_naming_the_restart()
    {
        var destination = Entry(MigrationRole.Destination, "lamp", attempt: 4) with { Phase = "Copy" };
        var source = Entry(MigrationRole.Source, "desk");
        _files.Write(destination);
        _files.Write(source);
        _files.Write(Entry(MigrationRole.Destination, "done") with { Completed = true });
        _journal.Load();

        await _journal.ReportAsync(CancellationToken.None);

        var failures = _published.Messages.Cast<TransferFailed>().OrderBy(f => f.Attempt).ToArray();
        Assert.Equal([(source.MigrationId, 1, "Index"), (destination.MigrationId, 4, "Copy")], failures.Select(f => (f.MigrationId, f.Attempt, f.Phase)));
        Assert.All(failures, f => Assert.Equal("dst-1", f.StorageId));
        Assert.Contains("storage worker 'dst-1' restarted while sending volume 'desk'", failures[0].Reason);
        Assert.Contains("restarted while receiving volume 'lamp' for this migration (attempt 4, phase Copy)", failures[1].Reason);
    }

    private static JournalEntry Entry(MigrationRole role, string volume, int attempt = 1) =>
        new(Guid.NewGuid(), role, volume, attempt, "Index", false, DateTimeOffset.UtcNow);
}
