using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Teleport.Contracts;
using Teleport.Orchestrator.Persistence;

namespace Teleport.Orchestrator;

/// <summary>
/// Finds saga rows past their deadline and publishes <see cref="MigrationDeadlineExpired"/> for each; the saga
/// decides (it ignores an expiry whose state and deadline no longer match, so several orchestrators sweeping the
/// same table do no harm). No broker plugin or scheduler is needed: the deadline lives on the row.
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
    private readonly SemaphoreSlim _sweeping = new(1, 1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(settings.SweepInterval, clock);
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            try
            {
                await SweepOnceAsync(stoppingToken).ConfigureAwait(false);
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

            var count = 0;
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

    public override void Dispose()
    {
        _sweeping.Dispose();
        base.Dispose();
    }
}
