using System.Diagnostics;
using Teleport.Blocks;

namespace Teleport.Benchmarks.Engines;

/// <summary>
/// Our index against embedded key-value engines on the same keys: <c>engine build NAME N DIR</c> loads N uniformly
/// spread 16-byte keys in ascending order, <c>engine read NAME N DIR</c> (a fresh process, so the build's memory is
/// not counted) opens what was built and measures resident memory and single-thread lookup rates of a million misses
/// and a million hits, twice. infra/bench/index-engines.sh runs both for every engine and tabulates the lines
/// starting with "result".
/// </summary>
internal static class IndexEngineComparison
{
    private const int Samples = 1 << 20;

    public static int Run(string[] args)
    {
        if (args.Length != 4 && !(args.Length == 5 && args[0] == "cold") || args[0] is not ("build" or "read" or "batched" or "cold"))
        {
            Console.Error.WriteLine("usage: engine build|read teleport|rocksdb|faster|lmdb ENTRIES DIR");
            Console.Error.WriteLine("       engine batched teleport ENTRIES DIR (batched verified hits only, five rounds: to profile)");
            Console.Error.WriteLine("       engine cold teleport ENTRIES DIR [mapped|direct] (misses and batched verified hits with the table evicted; both paths by default)");
            return 2;
        }

        long entries = long.Parse(args[2]);
        Directory.CreateDirectory(args[3]);
        using var engine = Create(args[1], args[3], entries);
        if (args[0] == "build")
            Build(engine, entries, args[3]);
        else if (args[0] == "batched")
            Batched((OwnIndexEngine)engine);
        else if (args[0] == "cold")
            ColdLookups.Run((OwnIndexEngine)engine, entries, args.Length == 5 ? [args[4] == "direct"] : [false, true]);
        else
            Read(engine, entries, args[3]);
        return 0;
    }

    private static IIndexEngine Create(string name, string directory, long entries) => name switch
    {
        "teleport" => new OwnIndexEngine(directory),
        "rocksdb" => new RocksDbIndexEngine(directory, entries),
        "faster" => new FasterIndexEngine(directory, entries),
        "lmdb" => new LmdbIndexEngine(directory),
        _ => throw new ArgumentException($"unknown engine '{name}'"),
    };

    // The same keys in every process: uniformly spread, ascending (our build sorts; the others get them sorted too).
    private static IEnumerable<(ulong High, ulong Low, long Location)> Keys(long entries)
    {
        var random = new Random(7);
        ulong stride = ulong.MaxValue / (ulong)entries;
        for (long i = 0; i < entries; i++)
            yield return ((ulong)i * stride + (ulong)random.NextInt64() % stride, (ulong)random.NextInt64(), i);
    }

    private static void Build(IIndexEngine engine, long entries, string directory)
    {
        engine.Prepare();
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        engine.Build(Keys(entries), entries);
        double wall = clock.Elapsed.TotalSeconds;
        double used = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds;
        long bytes = new DirectoryInfo(directory).EnumerateFiles("*", SearchOption.AllDirectories)
            .Where(f => f.Directory?.Name != OwnIndexEngine.ImageDirectory).Sum(f => f.Length);
        Console.WriteLine($"result\t{engine.Name}\tbuild_s\t{wall:F1}\tbuild_cpu_s\t{used:F1}\tbuild_Mps\t{entries / wall / 1e6:F2}" +
                          $"\tfile_B_per_entry\t{(double)bytes / entries:F2}\tpeak_MiB\t{Process.GetCurrentProcess().PeakWorkingSet64 >> 20}");
    }

    private static void Read(IIndexEngine engine, long entries, string directory)
    {
        var (present, locations) = Present(entries);
        var random = new Random(11);
        var absent = new (ulong, ulong)[Samples];
        for (int i = 0; i < absent.Length; i++)
            absent[i] = ((ulong)random.NextInt64(), (ulong)random.NextInt64());

        var before = ProcessMemory.Read();
        var clock = Stopwatch.StartNew();
        engine.Open();
        double open = clock.Elapsed.TotalSeconds;
        var opened = ProcessMemory.Read();
        var (misses, missFaults) = Rate(engine, absent, null);
        var (hits1, hitFaults1) = Rate(engine, present, locations);
        var (hits2, hitFaults2) = Rate(engine, present, locations);
        var after = ProcessMemory.Read();
        var (verified, verifiedFaults) = VerifiedRate(engine, present, directory);
        string indexed = "";
        if (engine is OwnIndexEngine own)
        {
            // Through the index itself on real blocks: one lookup at a time, then batches of 256 (IndexPrefetch's half window).
            var (single, batched, method) = own.VerifiedRates(Samples, 256);
            indexed = $"\tverified_index_kps\t{single / 1e3:F0}\tverified_batch_kps\t{batched / 1e3:F0}\tbatch_reads\t{method}";
        }
        Console.WriteLine($"result\t{engine.Name}\topen_s\t{open:F2}\tanon_B_per_entry_open\t{(double)(opened.Anonymous - before.Anonymous) / entries:F2}" +
                          $"\tanon_B_per_entry\t{(double)(after.Anonymous - before.Anonymous) / entries:F2}" +
                          $"\tfile_pages_B_per_entry\t{(double)(after.File - before.File) / entries:F2}" +
                          $"\tmiss_Mps\t{misses / 1e6:F2}\thit_kps_first\t{hits1 / 1e3:F0}\thit_kps\t{hits2 / 1e3:F0}\tverified_kps\t{verified / 1e3:F0}" +
                          $"\tfaults_per_miss\t{Faults(missFaults, absent.Length)}\tfaults_per_hit_first\t{Faults(hitFaults1, present.Length)}" +
                          $"\tfaults_per_hit\t{Faults(hitFaults2, present.Length)}\tfaults_per_verified\t{Faults(verifiedFaults, present.Length)}{indexed}");
    }

    // Only the batched verified hits, round after round: what a profiler is attached to.
    private static void Batched(OwnIndexEngine engine)
    {
        engine.Open();
        var prefixes = engine.RealPrefixes(Samples);
        for (int round = 0; round < 5; round++)
            Console.WriteLine($"result\tteleport\tround\t{round}\tverified_batch_kps\t{engine.BatchedRate(prefixes, 256) / 1e3:F0}");
    }

    // Page faults per lookup, minor/major.
    private static string Faults(ProcessFaults faults, int lookups) =>
        $"{(double)faults.Minor / lookups:F3}/{(double)faults.Major / lookups:F3}";

    // A verified hit as the destination does it: the lookup, then the candidate block read from a local image
    // (256 MiB of random data in the page cache, standing in for the volume) and fingerprinted by the index's own
    // read path (ImageRecord, what BlockIndex.TryReadVerified calls). The synthetic keys are not those blocks'
    // fingerprints, so the fingerprint is computed and not compared; comparing 32 bytes costs nothing.
    private static (double Rate, ProcessFaults Faults) VerifiedRate(IIndexEngine engine, (ulong High, ulong Low)[] keys, string directory)
    {
        string image = BenchFiles.Random(directory, 256L << 20);
        long blocks = (256L << 20) / 4096;
        var record = new ImageRecord(1, image);
        Span<byte> block = stackalloc byte[4096];
        var process = Process.GetCurrentProcess();
        var cpu = process.TotalProcessorTime;
        var faults = ProcessFaults.Read();
        foreach (var (high, low) in keys)
        {
            long location = engine.Find(high, low);
            if (!record.TryFingerprint(Math.Abs(location % blocks), block, out _))
                throw new InvalidOperationException($"{engine.Name}: the image could not be read at {location}");
        }

        faults = ProcessFaults.Read() - faults;
        process.Refresh();
        double rate = keys.Length / (process.TotalProcessorTime - cpu).TotalSeconds;
        Console.Error.WriteLine($"verified hit parts (us of CPU each): {Parts(record, keys, blocks, block)}");
        record.Close();
        File.Delete(image);
        return (rate, faults);
    }

    // Where a verified hit's time goes apart from the lookup: the block read alone, then the fingerprint alone.
    private static string Parts(ImageRecord record, (ulong High, ulong Low)[] keys, long blocks, Span<byte> block)
    {
        using var file = File.OpenHandle(record.Path);
        var process = Process.GetCurrentProcess();
        var cpu = process.TotalProcessorTime;
        foreach (var (_, low) in keys)
            RandomAccess.Read(file, block, (long)(low % (ulong)blocks) * block.Length);
        process.Refresh();
        var read = process.TotalProcessorTime - cpu;
        cpu = process.TotalProcessorTime;
        foreach (var _ in keys)
            Fingerprint.Compute(block);
        process.Refresh();
        var hash = process.TotalProcessorTime - cpu;
        return $"read {read.TotalMicroseconds / keys.Length:F2}, fingerprint {hash.TotalMicroseconds / keys.Length:F2}";
    }

    // Every (N / Samples)-th key, shuffled, with the location it was stored with.
    private static ((ulong, ulong)[] Keys, long[] Locations) Present(long entries)
    {
        long every = Math.Max(1, entries / Samples);
        var keys = new List<(ulong, ulong)>(Samples);
        var locations = new List<long>(Samples);
        foreach (var (high, low, location) in Keys(entries))
            if (location % every == 0 && keys.Count < Samples)
            {
                keys.Add((high, low));
                locations.Add(location);
            }

        int[] order = Enumerable.Range(0, keys.Count).ToArray();
        new Random(13).Shuffle(order);
        return (order.Select(i => keys[i]).ToArray(), order.Select(i => locations[i]).ToArray());
    }

    // Lookups per CPU second of this process (the machine is shared; wall time would count others' turns). A wrong
    // answer aborts the run: a fast engine that loses keys is not a result.
    private static (double Rate, ProcessFaults Faults) Rate(IIndexEngine engine, (ulong High, ulong Low)[] keys, long[]? locations)
    {
        var process = Process.GetCurrentProcess();
        var cpu = process.TotalProcessorTime;
        var faults = ProcessFaults.Read();
        for (int i = 0; i < keys.Length; i++)
        {
            long found = engine.Find(keys[i].High, keys[i].Low);
            bool right = locations is null ? found < 0 : found == locations[i] || (engine is OwnIndexEngine && found >= 0);
            if (!right)
                throw new InvalidOperationException($"{engine.Name}: lookup {i} answered {found}");
        }

        faults = ProcessFaults.Read() - faults;
        process.Refresh();
        return (keys.Length / (process.TotalProcessorTime - cpu).TotalSeconds, faults);
    }
}
