using System.Diagnostics;
using Teleport.Blocks;

namespace Teleport.Benchmarks;

/// <summary>
/// The index at scale without hashing terabytes: N entries with uniformly spread keys are streamed into a table and
/// saved as an index file, which is then opened as an operator's index would be. Reports build and save rates, open
/// time, resident memory per entry (the index's accounting and the process's anonymous memory), file size, and
/// single-thread lookup rates: misses (<see cref="BlockIndex.MayContain(in FingerprintPrefix)"/> of absent keys) and
/// table hits (present keys: the summary, then the mapped entry). Verified hits add a block read and a SHA-256 per
/// lookup; <see cref="LookupBenchmarks"/> measures those on a real image.
/// </summary>
internal static class IndexScaleMeasurement
{
    private const int Samples = 1 << 20;

    public static int Run(long entries)
    {
        string directory = BenchFiles.Directory();
        try
        {
            string indexDirectory = Path.Combine(directory, "index");
            Directory.CreateDirectory(indexDirectory);
            var present = Build(indexDirectory, entries);
            Measure(indexDirectory, entries, present);
            return 0;
        }
        finally
        {
            BenchFiles.Delete(directory);
        }
    }

    private static FingerprintPrefix[] Build(string indexDirectory, long entries)
    {
        var random = new Random(7);
        var present = new FingerprintPrefix[Samples];
        ulong stride = ulong.MaxValue / (ulong)entries;
        long every = Math.Max(1, entries / Samples);
        var clock = Stopwatch.StartNew();
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        using var builder = EntryTable.Build(indexDirectory, entries);
        for (long i = 0; i < entries; i++)
        {
            ulong high = (ulong)i * stride + (ulong)random.NextInt64() % stride, low = (ulong)random.NextInt64();
            builder.Append(new IndexEntry(new IndexKey(high, low), 1, i));
            if (i % every == 0 && i / every < Samples)
                present[i / every] = new FingerprintPrefix(high, low);
        }
        using var table = builder.Complete();
        double built = clock.Elapsed.TotalSeconds;
        double builtCpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds;
        clock.Restart();
        var image = new ImageRecord(1, Path.Combine(indexDirectory, "image.img")) { Blocks = entries, NonZeroBlocks = entries };
        IndexFile.Write(IndexFile.PathFor(indexDirectory, BlockSizes.Default), BlockSizes.Default, [image], table.Entries);
        Console.WriteLine($"entries:            {entries:N0}");
        Console.WriteLine($"table build:        {built:F1} s = {entries / built / 1e6:F2} M entries/s (streamed to the working file; {builtCpu:F1} s of CPU, key generation included)");
        Console.WriteLine($"save:               {clock.Elapsed.TotalSeconds:F1} s = {entries / clock.Elapsed.TotalSeconds / 1e6:F2} M entries/s (fsynced)");
        return present[..(int)Math.Min(Samples, entries)];
    }

    private static void Measure(string indexDirectory, long entries, FingerprintPrefix[] present)
    {
        long anonBefore = ProcessMemory.Read().Anonymous;
        var clock = Stopwatch.StartNew();
        using var index = BlockIndex.Open(indexDirectory);
        double open = clock.Elapsed.TotalSeconds;
        var stats = index.Stats;
        Console.WriteLine($"open (checked):     {open:F1} s = {entries / open / 1e6:F2} M entries/s");
        Console.WriteLine($"index file:         {stats.IndexBytes:N0} bytes = {(double)stats.IndexBytes / entries:F2} bytes/entry");
        Console.WriteLine($"memoryBytes:        {stats.MemoryBytes:N0} bytes = {stats.MemoryBytesPerBlock:F2} bytes/entry");
        Console.WriteLine($"process anon+heap:  {ProcessMemory.Read().Anonymous - anonBefore:N0} bytes more after open = {(double)(ProcessMemory.Read().Anonymous - anonBefore) / entries:F2} bytes/entry");

        var random = new Random(11);
        var absent = new FingerprintPrefix[Samples];
        for (int i = 0; i < absent.Length; i++)
            absent[i] = new FingerprintPrefix((ulong)random.NextInt64(), (ulong)random.NextInt64());
        Console.WriteLine($"misses (1 thread):  {Rate(index, absent, expect: false)}");
        Shuffle(present, random);
        Console.WriteLine($"table hits (1 th.): {Rate(index, present, expect: true)}, first pass (entries paged in)");
        Console.WriteLine($"table hits (1 th.): {Rate(index, present, expect: true)}, second pass");
        Console.WriteLine($"peak working set:   {Process.GetCurrentProcess().PeakWorkingSet64 / (1 << 20):N0} MiB (includes mapped file pages)");
    }

    // Lookups per second of wall time and per second of this process's CPU time (the machine is shared: wall time
    // counts the other jobs' turns too, CPU time counts only ours).
    private static string Rate(BlockIndex index, FingerprintPrefix[] keys, bool expect)
    {
        var process = Process.GetCurrentProcess();
        var cpu = process.TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        int wrong = 0;
        foreach (var key in keys)
            if (index.MayContain(key) != expect)
                wrong++;
        double wall = clock.Elapsed.TotalSeconds;
        process.Refresh();
        double used = (process.TotalProcessorTime - cpu).TotalSeconds;
        if (wrong > keys.Length / 1000)
            throw new InvalidOperationException($"{wrong} of {keys.Length} lookups answered {!expect}");
        return $"{keys.Length / used / 1e6:F2} M/s per CPU second ({keys.Length / wall / 1e6:F2} M/s of wall time)";
    }

    private static void Shuffle(FingerprintPrefix[] keys, Random random)
    {
        for (int i = keys.Length - 1; i > 0; i--)
        {
            int j = random.Next(i + 1);
            (keys[i], keys[j]) = (keys[j], keys[i]);
        }
    }
}
