using Microsoft.Extensions.Logging.Abstractions;
using Teleport.Contracts;
using Teleport.Storage.Migrations;
using Teleport.Storage.Volumes;
using Teleport.Storage.Worker;

namespace Teleport.Storage.Tests.Migrations;

/// <summary>
/// Commands of one migration take turns; a command of another migration never waits for them, even while one is
/// stuck in slow I/O (here a journal file removal held until the test lets it go). The timeouts only keep a
/// regression from hanging the run; nothing here measures time.
/// </summary>
public sealed class CommandIndependenceTests : IAsyncLifetime
{
    private static readonly TimeSpan Guard = TimeSpan.FromSeconds(30);

    private readonly string _root = Directory.CreateTempSubdirectory("teleport-storage-turns-").FullName;
    private readonly NbdExportService _exports;
    private readonly HeldJournal _journal = new();
    private readonly PublishedEvents _published;
    private readonly StorageMigrations _migrations;

    public CommandIndependenceTests()
    {
        var options = new StorageWorkerOptions { StorageId = "dst-1", VolumeDirectory = _root };
        var store = new VolumeStore(_root);
        var volumes = new VolumeTrackers();
        _exports = new NbdExportService(options, store, volumes, NullLoggerFactory.Instance);
        _published = PublishedEvents.Create(out var bus);
        _migrations = new StorageMigrations(options, store, volumes, _exports, bus, NullLoggerFactory.Instance, null, null, _journal);
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        _journal.Release.Set();
        await _exports.DisposeAsync();
        Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public async Task A_command_stuck_in_the_journal_holds_up_its_own_migration_only()
    {
        var stuck = Guid.NewGuid();
        var other = Guid.NewGuid();
        _journal.Entries.Add(new JournalEntry(stuck, MigrationRole.Destination, "lamp", 1, "Copy", false, DateTimeOffset.UtcNow));
        _journal.HeldMigration = stuck;
        _migrations.LoadJournal();

        // The rollback's abort of the interrupted side removes its journal file: held there.
        var abort = Task.Run(() => _migrations.AbortAsync(new AbortTransfer(stuck, "lamp", "dst-1", "rollback", 1)));
        await _journal.Entered.Task.WaitAsync(Guard);
        var sameMigration = Task.Run(() => _migrations.FinalSyncAsync(new FinalSync(stuck, "lamp", "dst-1", 1)));

        // Another migration's commands are answered meanwhile, and the worker's state can be read.
        await _migrations.FinalSyncAsync(new FinalSync(other, "desk", "dst-1", 1)).WaitAsync(Guard);
        await _migrations.StartTransferAsync(new StartTransfer(other, "desk", "dst-1", "dst-2", "127.0.0.1:7000", "", null, new MigrationOptions(), 1))
            .WaitAsync(Guard);
        await _migrations.AbortAsync(new AbortTransfer(other, "desk", "dst-1", "rollback", 1)).WaitAsync(Guard);
        Assert.Null(_migrations.UsingVolume("desk"));
        Assert.Equal(0, _migrations.Count);
        Assert.False(abort.IsCompleted);
        Assert.Empty(_published.Of(stuck));
        var answers = _published.Messages.ToArray();
        Assert.Collection(answers,
            e => Assert.Contains("unknown migration", Assert.IsType<TransferFailed>(e).Reason),
            e => Assert.Contains("volume 'desk' is not served", Assert.IsType<TransferFailed>(e).Reason),
            e => Assert.IsType<TransferAborted>(e));

        // Once the journal lets go, the stuck migration's commands finish in the order they came.
        _journal.Release.Set();
        await abort.WaitAsync(Guard);
        await sameMigration.WaitAsync(Guard);
        Assert.Collection(_published.Messages.Skip(answers.Length),
            e => Assert.Equal(stuck, Assert.IsType<TransferAborted>(e).MigrationId),
            e => Assert.Equal(stuck, Assert.IsType<TransferFailed>(e).MigrationId));
        Assert.Empty(_migrations.Interrupted);
    }

    [Fact]
    public async Task Turns_are_per_migration()
    {
        var turns = new MigrationTurns();
        var a = Guid.NewGuid();

        var first = await turns.EnterAsync(a).WaitAsync(Guard);
        var second = turns.EnterAsync(a);
        (await turns.EnterAsync(Guid.NewGuid()).WaitAsync(Guard)).Dispose();
        Assert.False(second.IsCompleted);

        first.Dispose();
        (await second.WaitAsync(Guard)).Dispose();
        (await turns.EnterAsync(a).WaitAsync(Guard)).Dispose();
    }

    /// <summary>A journal in memory whose removal of one migration's side blocks until <see cref="Release"/> is set.</summary>
    private sealed class HeldJournal : IMigrationJournal
    {
        public List<JournalEntry> Entries { get; } = [];

        public Guid HeldMigration { get; set; }

        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public ManualResetEventSlim Release { get; } = new();

        public void Write(JournalEntry entry)
        {
        }

        public void Remove(Guid migrationId, MigrationRole role)
        {
            if (migrationId != HeldMigration)
                return;
            Entered.TrySetResult();
            Release.Wait();
        }

        public IReadOnlyList<JournalEntry> Load() => Entries;
    }
}
