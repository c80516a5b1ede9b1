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
    private readonly Dictionary<Guid, (DateTime Deadline, DateTimeOffset PublishedAt)> _published = [];
    private readonly Dictionary<Guid, (DateTime NudgeAt, DateTimeOffset PublishedAt)> _nudged = [];
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
    public async Task<int> SweepOnceAsync(CancellationToken cancellationToken)
    {
        await _sweeping.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var now = clock.GetUtcNow();
            var nowUtc = now.UtcDateTime;
            await using var db = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
            var expired = await db.Migrations.AsNoTracking()
                .Where(m => m.DeadlineUtc != null && m.DeadlineUtc <= nowUtc)
                .OrderBy(m => m.DeadlineUtc)
                .Select(m => new { m.CorrelationId, m.CurrentState, m.DeadlineUtc })
                .Take(BatchSize)
                .ToListAsync(cancellationToken)
                .ConfigureAwait(false);

            foreach (var stale in _published.Keys.Where(id => expired.All(e => e.CorrelationId != id)).ToList())
            {
                _published.Remove(stale);
            }

            int count = 0;
            foreach (var row in expired)
            {
                var deadline = row.DeadlineUtc!.Value;
                if (_published.TryGetValue(row.CorrelationId, out var earlier)
                    && earlier.Deadline == deadline
                    && now - earlier.PublishedAt < settings.RepublishAfter)
                {
                    continue;
                }

                using (logger.BeginScope(new Dictionary<string, object> { ["MigrationId"] = row.CorrelationId }))
                {
                    logger.LogWarning("Migration {MigrationId} passed the deadline {Deadline:O} of state {State}",
                        row.CorrelationId, deadline, row.CurrentState);
                }

                await bus.Publish(
                    new MigrationDeadlineExpired(row.CorrelationId, row.CurrentState, new DateTimeOffset(deadline, TimeSpan.Zero), now),
                    cancellationToken).ConfigureAwait(false);
                _published[row.CorrelationId] = (deadline, now);
                count++;
            }

            return count;
        }
        finally
        {
            _sweeping.Release();
        }
    }

    /// <summary>
    /// One nudge sweep: publishes a nudge for every row whose nudge time has come and whose deadline has not (an expiry
    /// supersedes it); returns how many it published. A nudge the saga has not handled (same nudge time) is published
    /// again only after the state's nudge interval, in case it was lost.
    /// </summary>
    public async Task<int> NudgeOnceAsync(CancellationToken cancellationToken)
    {
        await _sweeping.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var now = clock.GetUtcNow();
            var nowUtc = now.UtcDateTime;
            await using var db = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
            var due = await db.Migrations.AsNoTracking()
                .Where(m => m.NudgeAtUtc != null && m.NudgeAtUtc <= nowUtc && (m.DeadlineUtc == null || m.DeadlineUtc > nowUtc))
                .OrderBy(m => m.NudgeAtUtc)
                .Select(m => new { m.CorrelationId, m.CurrentState, m.Attempt, m.NudgeAtUtc, m.Run.Nudges })
                .Take(BatchSize)
                .ToListAsync(cancellationToken)
                .ConfigureAwait(false);

            foreach (var stale in _nudged.Keys.Where(id => due.All(e => e.CorrelationId != id)).ToList())
            {
                _nudged.Remove(stale);
            }

            int count = 0;
            foreach (var row in due)
            {
                var nudgeAt = row.NudgeAtUtc!.Value;
                var again = settings.NudgeIntervalOf(row.CurrentState) ?? settings.RepublishAfter;
                if (_nudged.TryGetValue(row.CorrelationId, out var earlier) && earlier.NudgeAt == nudgeAt && now - earlier.PublishedAt < again)
                {
                    continue;
                }

                using (logger.BeginScope(new Dictionary<string, object> { ["MigrationId"] = row.CorrelationId }))
                {
                    logger.LogInformation("Migration {MigrationId} made no progress in {State} since {NudgeAt:O}; nudging it to re-send (nudge {Nudge})",
                        row.CorrelationId, row.CurrentState, nudgeAt, row.Nudges + 1);
                }

                await bus.Publish(
                    new MigrationNudged(row.CorrelationId, row.CurrentState, row.Attempt, new DateTimeOffset(nudgeAt, TimeSpan.Zero), now),
                    cancellationToken).ConfigureAwait(false);
                _nudged[row.CorrelationId] = (nudgeAt, now);
                count++;
            }

            return count;
        }
        finally
        {
            _sweeping.Release();
        }
    }

    public override void Dispose()
    {
        _sweeping.Dispose();
        base.Dispose();
    }
}
