using System.Diagnostics.Metrics;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Teleport.Orchestrator.Persistence;

namespace Teleport.Orchestrator;

/// <summary>
/// Migrations in the saga store by state (gauge teleport.migrations.current on meter "Teleport.Orchestrator"), counted
/// with one grouped query when an exporter collects. A collection waits at most <see cref="MaxWait"/> for the query;
/// one that takes longer still finishes in the background and serves the next collection. While the database cannot be
/// counted the gauge reports nothing (readiness says why) rather than figures that may be stale.
/// </summary>
public sealed class MigrationStateGauge : IDisposable
{
    /// <summary>Longest a collection waits for the count.</summary>
    public static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(2);

    private readonly Meter _meter = new(MigrationMetrics.MeterName);
    private readonly OrchestratorDatabase _database;
    private readonly ILogger<MigrationStateGauge> _log;
    private readonly Lock _gate = new();
    private Measurement<long>[] _latest = [];
    private Task _counting = Task.CompletedTask;

    public MigrationStateGauge(OrchestratorDatabase database, ILogger<MigrationStateGauge> log)
    {
        _database = database;
        _log = log;
        _meter.CreateObservableGauge("teleport.migrations.current", Observe, "{migration}",
            "Migrations in the saga store by state (teleport.migration.state), ended ones included");
    }

    public void Dispose() => _meter.Dispose();

    private Measurement<long>[] Observe()
    {
        Task counting;
        lock (_gate)
        {
            if (_counting.IsCompleted)
                _counting = Task.Run(CountAsync);
            counting = _counting;
        }

        counting.Wait(MaxWait);
        return Volatile.Read(ref _latest);
    }

    private async Task CountAsync()
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await using var db = await _database.OpenAsync(timeout.Token).ConfigureAwait(false);
            var counts = await db.Migrations.AsNoTracking()
                .GroupBy(m => m.CurrentState)
                .Select(g => new { State = g.Key, Count = g.LongCount() })
                .ToListAsync(timeout.Token).ConfigureAwait(false);
            Volatile.Write(ref _latest, counts
                .Select(c => new Measurement<long>(c.Count, new KeyValuePair<string, object?>("teleport.migration.state", c.State)))
                .ToArray());
        }
        catch (Exception e)
        {
            Volatile.Write(ref _latest, []);
            _log.LogWarning("Migrations by state could not be counted: {Error}", e.Message);
        }
    }
}
