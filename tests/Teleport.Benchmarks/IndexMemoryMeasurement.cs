using System.Diagnostics;
using Teleport.Blocks;

namespace Teleport.Benchmarks;

/// <summary>
/// Bytes per unique entry: fills an index with N distinct received-block fingerprints (Add), saves it, then
/// reopens it in a fresh object and measures managed heap growth and the file size.
/// </summary>
internal static class IndexMemoryMeasurement
{
    public static int Run(long entries)
    {
        string directory = BenchFiles.Directory();
        try
        {
            string volume = Path.Combine(directory, "volume.img");
            File.WriteAllBytes(volume, []);
            var clock = Stopwatch.StartNew();
            using (var index = BlockIndex.Open(Path.Combine(directory, "index")))
            {
                Span<byte> seed = stackalloc byte[8];
                for (long i = 0; i < entries; i++)
                {
                    BitConverter.TryWriteBytes(seed, i);
                    index.Add(Fingerprint.Compute(seed), volume, i);
                }
                index.Save();
                Console.WriteLine($"filled (Add) and saved {entries:N0} entries in {clock.Elapsed.TotalSeconds:F1} s, " +
                    $"peak working set {Process.GetCurrentProcess().PeakWorkingSet64 / (1 << 20):N0} MiB");
            }

            Collect();
            long heapBefore = GC.GetTotalMemory(forceFullCollection: true);
            clock.Restart();
            using var reopened = BlockIndex.Open(Path.Combine(directory, "index"));
            var loadTime = clock.Elapsed;
            Collect();
            long heapAfter = GC.GetTotalMemory(forceFullCollection: true);
            var stats = reopened.Stats;

            Console.WriteLine($"unique entries:         {stats.UniqueBlocks:N0}");
            Console.WriteLine($"index file:             {stats.IndexBytes:N0} bytes = {(double)stats.IndexBytes / entries:F2} bytes/entry");
            Console.WriteLine($"managed heap growth:    {heapAfter - heapBefore:N0} bytes = {(double)(heapAfter - heapBefore) / entries:F2} bytes/entry");
            Console.WriteLine($"index's own accounting: {stats.MemoryBytes:N0} bytes = {stats.MemoryBytesPerBlock:F2} bytes/entry");
            Console.WriteLine($"load time:              {loadTime.TotalMilliseconds:F0} ms");
            GC.KeepAlive(reopened);
            return 0;
        }
        finally
        {
            BenchFiles.Delete(directory);
        }
    }

    private static void Collect()
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
    }
}
