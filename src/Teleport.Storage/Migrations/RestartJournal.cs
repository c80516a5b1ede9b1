using Microsoft.Extensions.Logging;
using Teleport.Contracts;

namespace Teleport.Storage.Migrations;

/// <summary>
/// The journal's two uses. While a side runs, it is written there (started, phase changes, completed) and removed when
/// it ends. At start, what a previous run left becomes an interrupted side: reported failed once the bus runs, its
/// commands of that attempt refused with the same reason, a later attempt starting afresh; a completed destination
/// entry is kept so a later abort still unexports its volume. The lock guards the map only; files are written outside it.
/// </summary>
internal sealed class RestartJournal(IMigrationJournal journal, MigrationReplies replies, ILogger log)
{
    private static readonly TimeSpan Retention = TimeSpan.FromDays(7);

    private readonly Lock _gate = new();
    private readonly Dictionary<(Guid, MigrationRole), JournalEntry> _interrupted = new();

    /// <summary>Sides a previous run of this worker left unfinished, as read from the journal at start.</summary>
    public IReadOnlyList<JournalEntry> Interrupted
    {
        get
        {
            lock (_gate)
                return _interrupted.Values.Where(e => !e.Completed).ToArray();
        }
    }

    /// <summary>Records a side that starts; a failure to write refuses the command (the side could not be reported after a restart).</summary>
    public void Write(JournalEntry entry) => journal.Write(entry);

    /// <summary>Records a side's progress; the side goes on if the journal cannot be written.</summary>
    public void Update(JournalEntry entry)
    {
        try
        {
            journal.Write(entry);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            log.LogWarning("Cannot write the migration journal: {Reason}", e.Message);
        }
    }

    public void Remove(Guid migrationId, MigrationRole role) => journal.Remove(migrationId, role);

    /// <summary>Reads the journal: every side a previous run did not finish becomes an interrupted migration.</summary>
    public void Load()
    {
        foreach (var entry in journal.Load())
        {
            if (entry.StartedAt < DateTimeOffset.UtcNow - Retention)
            {
                journal.Remove(entry.MigrationId, entry.Role);
                continue;
            }

            lock (_gate)
                _interrupted[(entry.MigrationId, entry.Role)] = entry;
            if (!entry.Completed)
                log.LogWarning("Migration {MigrationId} ({Role} of volume {Volume}, attempt {Attempt}) was interrupted by a restart of this worker",
                    entry.MigrationId, entry.Role, entry.VolumeId, entry.Attempt);
        }
    }

    /// <summary>The unfinished interrupted migration that received <paramref name="volumeId"/> here, other than <paramref name="except"/>.</summary>
    public Guid? Receiving(string volumeId, Guid? except = null)
    {
        lock (_gate)
        {
            return _interrupted.Values.FirstOrDefault(e =>
                e.VolumeId == volumeId && e.Role == MigrationRole.Destination && !e.Completed && e.MigrationId != except)?.MigrationId;
        }
    }

    /// <summary>
    /// The interrupted side a command of <paramref name="attempt"/> must be refused for, or null: a later attempt
    /// forgets the interrupted one and starts afresh.
    /// </summary>
    public JournalEntry? Refusing(Guid migrationId, MigrationRole role, int attempt)
    {
        lock (_gate)
        {
            if (!_interrupted.TryGetValue((migrationId, role), out var entry) || entry.Completed)
                return null;
            if (attempt <= entry.Attempt)
                return entry;
            _interrupted.Remove((migrationId, role));
        }

        journal.Remove(migrationId, role);
        return null;
    }

    /// <summary>Forgets both sides of an aborted migration up to <paramref name="attempt"/>; returns a completed destination side, whose volume must be unexported.</summary>
    public JournalEntry? Abort(Guid migrationId, int attempt)
    {
        var forgotten = new List<JournalEntry>(2);
        lock (_gate)
        {
            foreach (var role in new[] { MigrationRole.Source, MigrationRole.Destination })
            {
                if (_interrupted.TryGetValue((migrationId, role), out var entry) && entry.Attempt <= attempt)
                {
                    _interrupted.Remove((migrationId, role));
                    forgotten.Add(entry);
                }
            }
        }

        foreach (var entry in forgotten)
            journal.Remove(migrationId, entry.Role);
        return forgotten.LastOrDefault(e => e.Completed);
    }

    public string Reason(JournalEntry entry) => entry.Role == MigrationRole.Destination
        ? $"storage worker '{replies.StorageId}' restarted while receiving volume '{entry.VolumeId}' for this migration (attempt {entry.Attempt}, phase {entry.Phase}): " +
          "its data channel and session are gone, so this attempt cannot finish; the partial volume stays unexported (incoming) and a retry resumes from it"
        : $"storage worker '{replies.StorageId}' restarted while sending volume '{entry.VolumeId}' for this migration (attempt {entry.Attempt}, phase {entry.Phase}): " +
          "the writes tracked during the migration were lost, so this attempt cannot finish; retry the migration";

    /// <summary>Refuses a command of an interrupted side with the restart as the reason.</summary>
    public Task RefuseAsync(string command, JournalEntry entry, string phase, int attempt)
    {
        log.LogError("{Command} for migration {MigrationId} refused: this worker restarted during it", command, entry.MigrationId);
        return replies.FailedAsync(entry.MigrationId, phase, Reason(entry), attempt);
    }

    /// <summary>Publishes TransferFailed for every side a previous run left unfinished (once the bus runs).</summary>
    public async Task ReportAsync(CancellationToken cancellationToken)
    {
        foreach (var entry in Interrupted)
        {
            using var scope = StorageMigrations.Scope(log, entry.MigrationId);
            var failure = replies.Failure(entry.MigrationId, entry.Phase, Reason(entry), entry.Attempt);
            for (int attempt = 1; ; attempt++)
            {
                try
                {
                    await replies.Bus().Publish(failure, cancellationToken).ConfigureAwait(false);
                    log.LogError("Migration {MigrationId} reported failed: {Reason}", entry.MigrationId, failure.Reason);
                    break;
                }
                catch (Exception e) when (attempt < 30 && !cancellationToken.IsCancellationRequested && e is not OperationCanceledException)
                {
                    // The bus may still be connecting.
                    await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false);
                }
            }
        }
    }
}
