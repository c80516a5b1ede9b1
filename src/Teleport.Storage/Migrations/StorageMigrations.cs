using MassTransit;
using Microsoft.Extensions.Logging;
using Teleport.Blocks;
using Teleport.Contracts;
using Teleport.Storage.Security;
using Teleport.Storage.Volumes;
using Teleport.Storage.Worker;

namespace Teleport.Storage.Migrations;

/// <summary>
/// The migrations this storage worker takes part in, by MigrationId, as source (<see cref="SourceMigrations"/>) or
/// destination (<see cref="DestinationMigrations"/>). Commands are idempotent per attempt, so the saga may re-send a
/// command whose answer did not come: a repeated PrepareDestination re-publishes the same DestinationPrepared; a
/// repeated StartTransfer never starts a second transfer but re-publishes the progress already made (or the failure);
/// a repeated FinalSync signals the running final sync again, or re-publishes MigrationCompleted once it is done (or
/// the failure); AbortTransfer is acknowledged even for an unknown migration; a command of a later attempt replaces
/// what an earlier attempt left running. Every event carries the attempt of the command it answers. Sessions run in the
/// background; the consumers only start or signal them. Commands of one migration take turns; those of different
/// migrations never wait for each other's files or sockets. Each side is written to the journal
/// (<see cref="RestartJournal"/>), so a restarted worker reports the migrations it can no longer finish as failed
/// (<see cref="ReportInterruptedAsync"/>) instead of leaving them hanging.
/// </summary>
public sealed class StorageMigrations
{
    private readonly MigrationServices _services;
    private readonly RestartJournal _journal;
    private readonly SourceMigrations _sources;
    private readonly DestinationMigrations _destinations;
    private readonly MigrationTurns _turns = new();

    internal StorageMigrations(StorageWorkerOptions options, VolumeStore store, VolumeTrackers volumes, NbdExportService exports,
        Func<IPublishEndpoint> bus, ILoggerFactory loggers, BlockIndex? index, DataChannelSecurity? dataChannel, IMigrationJournal journal)
    {
        var log = loggers.CreateLogger<StorageMigrations>();
        var replies = new MigrationReplies(options.StorageId, bus, log);
        _journal = new RestartJournal(journal, replies, log);
        _services = new MigrationServices(options, store, volumes, exports, loggers, log, index,
            dataChannel ?? new DataChannelSecurity(null, null, new KnownPeers(options.Peers, required: false)), _journal, replies);
        _sources = new SourceMigrations(_services);
        _destinations = new DestinationMigrations(_services);
    }

    /// <summary>Migrations with a session (running or finished and not yet aborted).</summary>
    public int Count => _sources.Count + _destinations.Count;

    /// <summary>Migrations with a session on this worker as source.</summary>
    public int SourceCount => _sources.Count;

    /// <summary>Migrations with a session on this worker as destination.</summary>
    public int DestinationCount => _destinations.Count;

    /// <summary>How incoming migrations resolved their blocks since the worker started.</summary>
    public ResolutionTotals Resolved => _services.Resolved;

    /// <summary>Migrations a previous run of this worker left unfinished, as read from the journal at start.</summary>
    public IReadOnlyList<JournalEntry> Interrupted => _journal.Interrupted;

    public static IDisposable? Scope(ILogger log, Guid migrationId) =>
        log.BeginScope(new Dictionary<string, object> { ["MigrationId"] = migrationId });

    /// <summary>The migration (running, not finished) that uses <paramref name="volumeId"/> on this worker, if any.</summary>
    public Guid? UsingVolume(string volumeId) =>
        _sources.Using(volumeId) ?? _destinations.Using(volumeId) ?? _journal.Receiving(volumeId);

    /// <summary>Reads the journal: every side a previous run did not finish becomes an interrupted migration.</summary>
    internal void LoadJournal() => _journal.Load();

    /// <summary>Publishes TransferFailed for every side a previous run left unfinished (once the bus runs).</summary>
    public Task ReportInterruptedAsync(CancellationToken cancellationToken) => _journal.ReportAsync(cancellationToken);

    public Task PrepareDestinationAsync(PrepareDestination command) =>
        InTurnAsync(command.MigrationId, () => _destinations.PrepareAsync(command));

    public Task StartTransferAsync(StartTransfer command) => InTurnAsync(command.MigrationId, () => _sources.StartAsync(command));

    public Task FinalSyncAsync(FinalSync command) => InTurnAsync(command.MigrationId, () => _sources.FinalSyncAsync(command));

    public Task AbortAsync(AbortTransfer command) => InTurnAsync(command.MigrationId, () => AbortInTurnAsync(command));

    private async Task InTurnAsync(Guid migrationId, Func<Task> command)
    {
        using var scope = Scope(_services.Log, migrationId);
        using var turn = await _turns.EnterAsync(migrationId).ConfigureAwait(false);
        await command().ConfigureAwait(false);
    }

    private async Task AbortInTurnAsync(AbortTransfer command)
    {
        var source = _sources.TakeForAbort(command.MigrationId, command.Attempt);
        var destination = _destinations.TakeForAbort(command.MigrationId, command.Attempt);
        var completedBefore = _journal.Abort(command.MigrationId, command.Attempt);

        _services.Log.LogInformation("Aborting migration {MigrationId} ({Reason})", command.MigrationId, command.Reason);
        if (source is not null)
            await _sources.StopAbortedAsync(source).ConfigureAwait(false);
        if (destination is not null)
            await _destinations.RetireAsync(destination).ConfigureAwait(false);
        // A volume completed before a restart: the source stays authoritative, so it is not served any more.
        if (completedBefore is not null && _services.Exports.Unexport(completedBefore.VolumeId))
            _services.Store.MarkIncoming(completedBefore.VolumeId);

        await _services.Replies.PublishAsync(new TransferAborted(command.MigrationId, _services.StorageId, DateTimeOffset.UtcNow, command.Attempt))
            .ConfigureAwait(false);
    }

    /// <summary>Whether an incoming migration is still being received here (its session may read any indexed block).</summary>
    public bool ReceivingAny => _destinations.AnyUnfinished;

    /// <summary>
    /// The saga's word that migration succeeded: when this worker's own record says it sent that volume for that
    /// attempt and the transfer completed, the side is forgotten and <paramref name="release"/> runs on the volume (in
    /// the migration's turn); otherwise nothing happens to the volume.
    /// </summary>
    public Task ReleaseSourceAsync(ReleaseSourceVolume command, Action<string, Guid> release) =>
        InTurnAsync(command.MigrationId, () =>
        {
            if (!string.Equals(command.StorageId, _services.StorageId, StringComparison.Ordinal))
                _services.Log.LogError("ReleaseSourceVolume for storage {Other} reached storage {StorageId}: ignored", command.StorageId, _services.StorageId);
            else if (_sources.TakeCompleted(command.MigrationId, command.Attempt, command.VolumeId) is null)
                _services.Log.LogWarning("ReleaseSourceVolume of volume {Volume}: no completed transfer of migration {MigrationId} (attempt {Attempt}) here; the volume stays",
                    command.VolumeId, command.MigrationId, command.Attempt);
            else
                release(command.VolumeId, command.MigrationId);
            return Task.CompletedTask;
        });

    /// <summary>Stops every session (the worker is shutting down); the volumes and the journal stay, so a restart reports them.</summary>
    public async Task StopAsync()
    {
        foreach (var side in _sources.TakeAll().Concat(_destinations.TakeAll()))
            await side.StopAsync(_services.Options.StopTimeout, _services.Log).ConfigureAwait(false);
    }
}
