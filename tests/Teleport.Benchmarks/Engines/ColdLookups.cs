using System.Diagnostics;
using Teleport.Blocks;

namespace Teleport.Benchmarks.Engines;

/// <summary>
/// Lookups with the table NOT resident (<c>engine cold teleport N DIR</c>, run by infra/bench/index-cold.sh inside a
/// memory cgroup): before each round the table's and the image's pages are written back and evicted, then every real
/// block of the image is looked up once through <see cref="BlockIndex.ReadVerified"/> in batches of 256, in random
/// order (each hit needs its entry from disk) and in the image's block order (where prediction from the previous hit,
/// <see cref="BlockIndex.PredictsLocality"/>, serves), each with the entry path alone and with prediction. Rounds
/// alternate the entries read through the mapping (page faults) and with O_DIRECT
/// (<see cref="BlockIndex.ReadEntriesDirect"/>); a million misses are timed in the same cold state. Per CPU second
/// and per wall second, with the share of hits predicted, major faults and the resident set split into anonymous and
/// file pages.
/// </summary>
internal static class ColdLookups
{
    private const int Batch = 256, Rounds = 3, Misses = 1 << 20;

    /// <summary>Rounds of each path in <paramref name="paths"/> (false: through the mapping, true: direct), alternating.</summary>
    public static void Run(OwnIndexEngine engine, long entries, bool[] paths)
    {
        engine.Open();
        var index = engine.Index;
        var prefixes = engine.EachRealPrefix();
        var inOrder = engine.EachRealPrefixInBlockOrder();
        var absent = new FingerprintPrefix[Misses];
        var random = new Random(23);
        for (int i = 0; i < absent.Length; i++)
            absent[i] = new FingerprintPrefix((ulong)random.NextInt64(), (ulong)random.NextInt64());
        Console.Error.WriteLine($"cold: direct reads {(index.TableReadsDirect ? "available" : "REFUSED")}, batch reads {index.BatchReadMethod}");
        // Warm-up (JIT tiers) on the first 64 Ki lookups of each path, not timed.
        foreach (bool direct in paths)
        {
            index.ReadEntriesDirect = direct;
            foreach (bool predict in new[] { false, true })
            {
                index.PredictsLocality = predict;
                engine.BatchedRate(prefixes[..Math.Min(prefixes.Length, 1 << 14)], Batch);
                engine.BatchedRate(inOrder[..Math.Min(inOrder.Length, 1 << 14)], Batch);
            }
        }
        for (int round = 0; round < Rounds; round++)
            foreach (bool direct in paths)
                foreach (var (order, keys) in new[] { ("random", prefixes), ("block-order", inOrder) })
                    foreach (bool predict in new[] { false, true })
                        Round(engine, index, keys, absent, new RoundKind(direct, order, predict), round, entries);
    }

    // The entry path (mapped or direct), the keys' order and whether prediction is on.
    private readonly record struct RoundKind(bool Direct, string Order, bool Predict)
    {
        public override string ToString() => $"teleport-{(Direct ? "direct" : "mapped")}-{Order}-{(Predict ? "predicted" : "entries")}";
    }

    private static void Round(OwnIndexEngine engine, BlockIndex index, FingerprintPrefix[] prefixes, FingerprintPrefix[] absent,
        RoundKind kind, int round, long entries)
    {
        index.ReadEntriesDirect = kind.Direct;
        index.PredictsLocality = kind.Predict;
        index.DropTablePages();
        engine.DropImagePages();
        var (missCpu, _, _) = Measure(() =>
        {
            foreach (var prefix in absent)
                if (index.MayContain(prefix))
                    throw new InvalidOperationException("an absent key was found");
        });
        // Absent keys through the batched lookup too (a quarter of them): what prediction costs where nothing hits.
        var (batchedMissCpu, _, _) = Measure(() => BatchedMisses(index, absent.AsSpan(0, absent.Length / 4)));
        long predicted = index.PredictedHits;
        var (cpu, wall, faults) = Measure(() => engine.BatchedRate(prefixes, Batch));
        predicted = index.PredictedHits - predicted;
        var memory = ProcessMemory.Read();
        Console.WriteLine($"result\t{kind}\tround\t{round}" +
                          $"\tmiss_Mps\t{absent.Length / missCpu / 1e6:F2}\tbatched_miss_Mps\t{absent.Length / 4 / batchedMissCpu / 1e6:F2}" +
                          $"\tpredicted_share\t{(double)predicted / prefixes.Length:F3}" +
                          $"\tcold_verified_kps_cpu\t{prefixes.Length / cpu / 1e3:F0}\tcold_verified_kps_wall\t{prefixes.Length / wall / 1e3:F0}" +
                          $"\tmajor_faults_per_hit\t{(double)faults.Major / prefixes.Length:F3}" +
                          $"\trss_anon_B_per_entry\t{(double)memory.Anonymous / entries:F2}\trss_file_B_per_entry\t{(double)memory.File / entries:F2}" +
                          CgroupMemory());
    }

    private static void BatchedMisses(BlockIndex index, ReadOnlySpan<FingerprintPrefix> absent)
    {
        byte[] blocks = new byte[Batch * index.BlockSize];
        bool[] hits = new bool[Batch];
        var found = new Fingerprint[Batch];
        for (int from = 0; from < absent.Length; from += Batch)
        {
            int n = Math.Min(Batch, absent.Length - from);
            if (index.ReadVerified(absent.Slice(from, n), blocks.AsSpan(0, n * index.BlockSize), hits, found) != 0)
                throw new InvalidOperationException("an absent key was found");
        }
    }

    // The memory cgroup's own split (cgroup v1 memory.stat: rss, page cache, mapped file pages), in MB; empty outside one.
    private static string CgroupMemory()
    {
        string? path = File.ReadLines("/proc/self/cgroup").Select(l => l.Split(':', 3))
            .FirstOrDefault(f => f.Length == 3 && f[1].Split(',').Contains("memory"))?[2];
        string stat = $"/sys/fs/cgroup/memory{path}/memory.stat";
        if (path is null or "/" || !File.Exists(stat))
            return "";
        var values = File.ReadLines(stat).Select(l => l.Split(' ')).Where(f => f[0] is "rss" or "cache" or "mapped_file")
            .Select(f => $"\tcgroup_{f[0]}_MB\t{long.Parse(f[1]) / 1e6:F0}");
        return string.Concat(values);
    }

    // CPU seconds of this process, wall seconds and page faults of one action.
    private static (double Cpu, double Wall, ProcessFaults Faults) Measure(Action action)
    {
        var process = Process.GetCurrentProcess();
        var cpu = process.TotalProcessorTime;
        var faults = ProcessFaults.Read();
        var clock = Stopwatch.StartNew();
        action();
        double wall = clock.Elapsed.TotalSeconds;
        var used = ProcessFaults.Read() - faults;
        process.Refresh();
        return ((process.TotalProcessorTime - cpu).TotalSeconds, wall, used);
    }
}
