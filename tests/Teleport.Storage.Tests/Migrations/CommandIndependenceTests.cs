using Microsoft.Extensions.Logging.Abstractions;
using Teleport.Contracts;
using Teleport.Storage.Migrations;
using Teleport.Storage.Volumes;
using Teleport.Storage.Worker;

namespace Teleport.Storage.Tests.Migrations;

/// <summary>
/// Commands of one migration take turns; a command of another migration never waits for them, even while one is
/// stuck in slow I/O (here a journal file write or removal held until the test lets it go). The timeouts only keep a
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
        var options = new StorageWorkerOptions { StorageId = "dst-1", VolumeDirectory = _root, NbdListen = "127.0.0.1:0", DataListen = "127.0.0.1:0", DataChannelTls = false };
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
        object[] answers = _published.Messages.ToArray();
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
    public async Task A_destination_held_in_its_journal_write_claims_its_volume_and_holds_up_no_one_else()
    {
        await _exports.StartAsync(CancellationToken.None);
        var held = Guid.NewGuid();
        var other = Guid.NewGuid();
        _journal.HeldMigration = held;

        var prepare = Task.Run(() => _migrations.PrepareDestinationAsync(Prepare(held)));
        await _journal.Entered.Task.WaitAsync(Guard);

        // The volume is claimed while its side is opened: another migration is refused it at once.
        Assert.Equal(held, _migrations.UsingVolume("lamp"));
        await _migrations.PrepareDestinationAsync(Prepare(other)).WaitAsync(Guard);
        Assert.Contains("already being received by another migration", Assert.IsType<TransferFailed>(Assert.Single(_published.Of(other))).Reason);
        Assert.False(prepare.IsCompleted);

        _journal.Release.Set();
        await prepare.WaitAsync(Guard);
        Assert.IsType<DestinationPrepared>(Assert.Single(_published.Of(held)));
        Assert.Equal(1, _migrations.Count);
        await _migrations.AbortAsync(new AbortTransfer(held, "lamp", "dst-1", "rollback", 1)).WaitAsync(Guard);
        Assert.Null(_migrations.UsingVolume("lamp"));
        Assert.Equal(0, _migrations.Count);
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

    private static PrepareDestination Prepare(Guid migrationId) => new(migrationId, "lamp", "src-1", "dst-1", new MigrationOptions(), 1);

    /// <summary>A journal in memory whose writes and removals of one migration's sides block until <see cref="Release"/> is set.</summary>
    private sealed class HeldJournal : IMigrationJournal
    {
        public List<JournalEntry> Entries { get; } = [];

        public Guid HeldMigration { get; set; }

        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public ManualResetEventSlim Release { get; } = new();

        public void Write(JournalEntry entry) => Hold(entry.MigrationId);

        public void Remove(Guid migrationId, MigrationRole role) => Hold(migrationId);

        private void Hold(Guid migrationId)
        {
            if (migrationId != HeldMigration)
                return;
            Entered.TrySetResult();
            Release.Wait();
        }

        public IReadOnlyList<JournalEntry> Load() => Entries;
    }
}
