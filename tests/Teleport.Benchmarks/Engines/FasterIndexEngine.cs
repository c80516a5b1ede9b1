using FASTER.core;

namespace Teleport.Benchmarks.Engines;

/// <summary>
/// Microsoft FASTER: an in-memory hash index over a hybrid log on disk. Given our budget: a hash index of 2 B per entry
/// (FASTER's 64-byte buckets of seven 8-byte slots, so keys share slots and chain through the log) and 2 B per entry of
/// log in memory; persisted with a fold-over checkpoint and recovered on open.
/// </summary>
internal sealed class FasterIndexEngine(string directory, long entries) : IIndexEngine
{
    private IDevice? _device;
    private FasterKV<Key128, long>? _store;
    private ClientSession<Key128, long, long, long, Empty, IFunctions<Key128, long, long, long, Empty>>? _session;

    public string Name => "faster";

    private FasterKV<Key128, long> Store(bool recover)
    {
        _device = Devices.CreateLogDevice(Path.Combine(directory, "hlog.log"));
        var settings = new FasterKVSettings<Key128, long>
        {
            IndexSize = PowerOfTwoAtMost(Math.Max(1L << 16, entries * 2)),
            LogDevice = _device,
            PageSize = 1L << 20,
            MemorySize = PowerOfTwoAtMost(Math.Max(1L << 22, entries * 2)),
            EqualityComparer = new Key128Comparer(),
            CheckpointDir = Path.Combine(directory, "checkpoints"),
            TryRecoverLatest = recover,
        };
        return new FasterKV<Key128, long>(settings);
    }

    public void Build(IEnumerable<(ulong High, ulong Low, long Location)> entries, long count)
    {
        using (var store = Store(recover: false))
        {
            using (var session = store.NewSession<long, long, Empty>(new SimpleFunctions<Key128, long>()))
            {
                foreach (var (high, low, location) in entries)
                {
                    var key = new Key128(high, low);
                    long value = location;
                    session.Upsert(ref key, ref value);
                }
            }

            store.TakeFullCheckpointAsync(CheckpointType.FoldOver).AsTask().GetAwaiter().GetResult();
        }

        _device!.Dispose();
    }

    public void Open()
    {
        _store = Store(recover: true);
        _session = _store.NewSession<long, long, Empty>(new SimpleFunctions<Key128, long>());
    }

    public long Find(ulong high, ulong low)
    {
        var key = new Key128(high, low);
        long output = 0;
        var status = _session!.Read(ref key, ref output);
        if (status.IsPending)
        {
            _session.CompletePendingWithOutputs(out var completed, wait: true);
            using (completed)
            {
                completed.Next();
                status = completed.Current.Status;
                output = completed.Current.Output;
            }
        }

        return status.Found ? output : -1;
    }

    private static long PowerOfTwoAtMost(long value) => 1L << (63 - (int)long.LeadingZeroCount(value));

    public void Dispose()
    {
        _session?.Dispose();
        _store?.Dispose();
        _device?.Dispose();
    }

    internal readonly record struct Key128(ulong High, ulong Low);

    // The keys are fingerprint prefixes, already uniform: their first half is the hash.
    private sealed class Key128Comparer : IFasterEqualityComparer<Key128>
    {
        public long GetHashCode64(ref Key128 key) => (long)key.High;

        public bool Equals(ref Key128 a, ref Key128 b) => a == b;
    }
}
