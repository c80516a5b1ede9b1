using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Teleport.Contracts;
using Teleport.Orchestrator.Persistence;

namespace Teleport.Orchestrator;

/// <summary>
/// Finds saga rows past their deadline and publishes <see cref="MigrationDeadlineExpired"/> for each, and rows that
/// made no progress up to their nudge time (but are not past their deadline) and publishes <see cref="MigrationNudged"/>
/// for each, so the saga re-sends what a lost command or answer left hanging. The saga decides (it ignores an expiry
/// or nudge that no longer matches the row, so several orchestrators sweeping the same table do no harm). No broker
/// plugin or scheduler is needed: deadline and nudge time live on the row.
/// </summary>
public sealed class DeadlineSweeper(
    OrchestratorDatabase database,
    IBus bus,
    MigrationSettings settings,
    TimeProvider clock,
    ILogger<DeadlineSweeper> logger) : BackgroundService
{
    /// <summary>Most expiries published per sweep; the rest wait for the next one.</summary>
    public const int BatchSize = 200;

    // What this process published recently, so a row awaiting its saga is not re-published on every tick.
    private readonly RecentPublications _published = new();
    private readonly RecentPublications _nudged = new();
    private readonly SemaphoreSlim _sweeping = new(1, 1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(settings.SweepInterval, clock);
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            try
            {
                await SweepOnceAsync(stoppingToken).ConfigureAwait(false);
                await NudgeOnceAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                // A database or broker outage must not stop the sweeper: the next tick tries again.
                logger.LogError(ex, "Deadline sweep failed; retrying in {Interval}", settings.SweepInterval);
            }
        }
    }

    /// <summary>One sweep: publishes an expiry for every row past its deadline; returns how many it published.</summary>
    public Task<int> SweepOnceAsync(CancellationToken cancellationToken) => SweepAsync(_published,
        (rows, nowUtc) => rows
            .Where(m => m.DeadlineUtc != null && m.DeadlineUtc <= nowUtc)
            .OrderBy(m => m.DeadlineUtc)
            .Select(m => new DueRow(m.CorrelationId, m.CurrentState, m.Attempt, m.DeadlineUtc!.Value, m.Run.Nudges)),
        _ => settings.RepublishAfter, PublishExpiryAsync, cancellationToken);

    /// <summary>
    /// One nudge sweep: publishes a nudge for every row whose nudge time has come and whose deadline has not (an expiry
    /// supersedes it); returns how many it published. A nudge the saga has not handled (same nudge time) is published
    /// again only after the state's nudge interval, in case it was lost.
    /// </summary>
    public Task<int> NudgeOnceAsync(CancellationToken cancellationToken) => SweepAsync(_nudged,
        (rows, nowUtc) => rows
            .Where(m => m.NudgeAtUtc != null && m.NudgeAtUtc <= nowUtc && (m.DeadlineUtc == null || m.DeadlineUtc > nowUtc))
            .OrderBy(m => m.NudgeAtUtc)
            .Select(m => new DueRow(m.CorrelationId, m.CurrentState, m.Attempt, m.NudgeAtUtc!.Value, m.Run.Nudges)),
        row => settings.NudgeIntervalOf(row.CurrentState) ?? settings.RepublishAfter, PublishNudgeAsync, cancellationToken);

    // Both sweeps: the first BatchSize rows the query finds due, each published unless it was for the same due time
    // less than `again` ago; returns how many were published.
    private async Task<int> SweepAsync(RecentPublications recent, Func<IQueryable<MigrationState>, DateTime, IQueryable<DueRow>> query,
        Func<DueRow, TimeSpan> again, Func<DueRow, DateTimeOffset, CancellationToken, Task> publish, CancellationToken cancellationToken)
    {
        await _sweeping.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var now = clock.GetUtcNow();
            await using var db = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
            var due = await query(db.Migrations.AsNoTracking(), now.UtcDateTime).Take(BatchSize).ToListAsync(cancellationToken).ConfigureAwait(false);
            recent.KeepOnly(due.Select(row => row.CorrelationId));
            int count = 0;
            foreach (var row in due)
            {
                if (recent.IsRecent(row.CorrelationId, row.DueAt, now, again(row)))
                    continue;
                await publish(row, now, cancellationToken).ConfigureAwait(false);
                recent.Published(row.CorrelationId, row.DueAt, now);
                count++;
            }

            return count;
        }
        finally
        {
            _sweeping.Release();
        }
    }

    private async Task PublishExpiryAsync(DueRow row, DateTimeOffset now, CancellationToken cancellationToken)
    {
        using (logger.BeginScope(new Dictionary<string, object> { ["MigrationId"] = row.CorrelationId }))
        {
            logger.LogWarning("Migration {MigrationId} passed the deadline {Deadline:O} of state {State}",
                row.CorrelationId, row.DueAt, row.CurrentState);
        }

        await bus.Publish(
            new MigrationDeadlineExpired(row.CorrelationId, row.CurrentState, new DateTimeOffset(row.DueAt, TimeSpan.Zero), now),
            cancellationToken).ConfigureAwait(false);
    }

    private async Task PublishNudgeAsync(DueRow row, DateTimeOffset now, CancellationToken cancellationToken)
    {
        using (logger.BeginScope(new Dictionary<string, object> { ["MigrationId"] = row.CorrelationId }))
        {
            logger.LogInformation("Migration {MigrationId} made no progress in {State} since {NudgeAt:O}; nudging it to re-send (nudge {Nudge})",
                row.CorrelationId, row.CurrentState, row.DueAt, row.Nudges + 1);
        }

        await bus.Publish(
            new MigrationNudged(row.CorrelationId, row.CurrentState, row.Attempt, new DateTimeOffset(row.DueAt, TimeSpan.Zero), now),
            cancellationToken).ConfigureAwait(false);
    }

    // A row a sweep found due: DueAt is its deadline or its nudge time (UTC).
    private sealed record DueRow(Guid CorrelationId, string CurrentState, int Attempt, DateTime DueAt, int Nudges);

    public override void Dispose()
    {
        _sweeping.Dispose();
        base.Dispose();
    }
}
