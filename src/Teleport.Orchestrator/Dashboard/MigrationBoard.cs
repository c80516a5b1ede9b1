using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Teleport.Orchestrator.Persistence;

namespace Teleport.Orchestrator.Dashboard;

/// <summary>
/// What the dashboard shows, read from the saga store: every orchestrator sharing the store writes there, so it is
/// the one complete view. Reads are shared: however many pages watch, the store is read at most once per
/// <see cref="RefreshInterval"/>.
/// </summary>
public sealed class MigrationBoard(OrchestratorDatabase database, TimeProvider clock)
{
    /// <summary>Finished migrations shown besides the running ones (most recently requested first).</summary>
    public const int FinishedShown = 100;

    public static readonly TimeSpan RefreshInterval = TimeSpan.FromSeconds(1);

    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private readonly SemaphoreSlim _reading = new(1, 1);
    private Snapshot? _latest;

    /// <summary>The migrations as JSON (an array of <see cref="DashboardMigration"/>), at most one refresh interval old.</summary>
    public async Task<string> JsonAsync(CancellationToken cancellationToken)
    {
        if (Fresh(_latest) is { } cached)
            return cached.Json;
        await _reading.WaitAsync(cancellationToken);
        try
        {
            if (Fresh(_latest) is { } again)
                return again.Json;
            var rows = await ReadAsync(cancellationToken);
            var shown = rows.Where(r => !IsFinal(r)).Concat(rows.Where(IsFinal).Take(FinishedShown)).Select(DashboardMigration.Of).ToList();
            _latest = new Snapshot(JsonSerializer.Serialize(shown, Json), clock.GetUtcNow());
            return _latest.Json;
        }
        finally
        {
            _reading.Release();
        }
    }

    /// <summary>The saga row of one migration, or null.</summary>
    public async Task<MigrationState?> FindAsync(Guid id, CancellationToken cancellationToken)
    {
        await using var db = await database.OpenAsync(cancellationToken);
        return await db.Migrations.AsNoTracking().SingleOrDefaultAsync(m => m.CorrelationId == id, cancellationToken);
    }

    private static bool IsFinal(MigrationState row) => row.CurrentState is "Succeeded" or "Failed";

    // SQLite cannot order by DateTimeOffset: rows are ordered here.
    private async Task<List<MigrationState>> ReadAsync(CancellationToken cancellationToken)
    {
        await using var db = await database.OpenAsync(cancellationToken);
        var rows = await db.Migrations.AsNoTracking().ToListAsync(cancellationToken);
        return rows.OrderByDescending(m => m.RequestedAt).ThenBy(m => m.CorrelationId).ToList();
    }

    private Snapshot? Fresh(Snapshot? snapshot) =>
        snapshot is not null && clock.GetUtcNow() - snapshot.At < RefreshInterval ? snapshot : null;

    private sealed record Snapshot(string Json, DateTimeOffset At);
}
