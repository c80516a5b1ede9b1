namespace Teleport.Benchmarks;

/// <summary>This process's resident memory from /proc: anonymous (heap, native allocations) and file-backed (mapped files).</summary>
internal readonly record struct ProcessMemory(long Anonymous, long File)
{
    public static ProcessMemory Read()
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        long anonymous = 0, file = 0;
        foreach (string line in System.IO.File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("RssAnon:", StringComparison.Ordinal))
                anonymous = Kilobytes(line);
            else if (line.StartsWith("RssFile:", StringComparison.Ordinal))
                file = Kilobytes(line);
        }

        return new ProcessMemory(anonymous, file);
    }

    private static long Kilobytes(string line) => long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
}
