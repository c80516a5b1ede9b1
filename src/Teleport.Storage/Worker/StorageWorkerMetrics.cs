using System.Diagnostics.Metrics;
using Teleport.Blocks;
using Teleport.Storage.Migrations;

namespace Teleport.Storage.Worker;

/// <summary>
/// A storage worker's metrics (meter "Teleport.Storage"), read from the worker when an exporter collects: migrations
/// with a session by role, how incoming migrations resolved their blocks, and the content index's size and lookups.
/// Every measurement carries the worker's id (teleport.storage.id), so several workers in one process stay apart.
/// The data channel's bytes and NBD's operations have meters of their own (Teleport.Transfer, Teleport.Nbd).
/// </summary>
public sealed class StorageWorkerMetrics : IDisposable
{
    public const string MeterName = "Teleport.Storage";

    private readonly Meter _meter = new(MeterName);
    private readonly KeyValuePair<string, object?> _worker;

    public StorageWorkerMetrics(string storageId, StorageMigrations migrations, BlockIndex? index)
    {
        _worker = new KeyValuePair<string, object?>("teleport.storage.id", storageId);
        _meter.CreateObservableUpDownCounter("teleport.storage.migrations.active", () => new[]
        {
            Measure(migrations.SourceCount, "teleport.migration.role", "source"),
            Measure(migrations.DestinationCount, "teleport.migration.role", "destination"),
        }, "{migration}", "Migrations with a session on this worker, by its role in them");
        var resolved = migrations.Resolved;
        _meter.CreateObservableCounter("teleport.storage.blocks.resolved", () => new[]
        {
            Measure(resolved.FromIndex, "teleport.block.source", "index"),
            Measure(resolved.FromVolume, "teleport.block.source", "volume"),
            Measure(resolved.FromBuddies, "teleport.block.source", "buddy"),
            Measure(resolved.Requested, "teleport.block.source", "peer"),
        }, "{block}", "Blocks of incoming migrations by where they came from: the content index, the volume itself, a buddy of this site, or asked of the source");
        if (index is not null)
            AddIndex(index);
    }

    public void Dispose() => _meter.Dispose();

    private void AddIndex(BlockIndex index)
    {
        _meter.CreateObservableUpDownCounter("teleport.storage.index.entries", () => Measure(index.Stats.UniqueBlocks),
            "{entry}", "Entries of the content index: distinct non-zero blocks it can rebuild");
        _meter.CreateObservableUpDownCounter("teleport.storage.index.size", () => Measure(index.Stats.IndexBytes),
            "By", "Size of the content index file on disk");
        _meter.CreateObservableUpDownCounter("teleport.storage.index.memory", () => Measure(index.Stats.MemoryBytes),
            "By", "Memory the content index's entries use");
        _meter.CreateObservableCounter("teleport.storage.index.lookups", () =>
        {
            var stats = index.Stats;
            return new[] { Measure(stats.LookupHits, "teleport.index.result", "hit"), Measure(stats.LookupMisses, "teleport.index.result", "miss") };
        }, "{lookup}", "Lookups in the content index by result (hit: a verified local block); hit rate = hit / all");
    }

    private Measurement<long> Measure(long value) => new(value, _worker);

    private Measurement<long> Measure(long value, string key, string tag) => new(value, _worker, new KeyValuePair<string, object?>(key, tag));
}
