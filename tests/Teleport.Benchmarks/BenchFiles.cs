namespace Teleport.Benchmarks;

/// <summary>Generated input files for the benchmarks, under the temp directory.</summary>
internal static class BenchFiles
{
    public static string Directory()
    {
        string path = Path.Combine(Path.GetTempPath(), "teleport-bench-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(path);
        return path;
    }

    /// <summary>Random (non-zero, unique per block) data, read back once so it sits in the page cache.</summary>
    public static string Random(string directory, long bytes, int seed = 1)
    {
        string path = Path.Combine(directory, $"random-{bytes}.img");
        var random = new Random(seed);
        byte[] chunk = new byte[1 << 20];
        using (var stream = new FileStream(path, FileMode.Create, FileAccess.Write))
        {
            for (long written = 0; written < bytes; written += chunk.Length)
            {
                random.NextBytes(chunk);
                stream.Write(chunk, 0, (int)Math.Min(chunk.Length, bytes - written));
            }
        }
        WarmPageCache(path);
        return path;
    }

    /// <summary>A file that is all hole.</summary>
    public static string Sparse(string directory, long bytes)
    {
        string path = Path.Combine(directory, $"sparse-{bytes}.img");
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write);
        stream.SetLength(bytes);
        return path;
    }

    /// <summary>Zeros actually written (no holes): zero detection without hole skipping.</summary>
    public static string WrittenZeros(string directory, long bytes)
    {
        string path = Path.Combine(directory, $"zeros-{bytes}.img");
        byte[] chunk = new byte[1 << 20];
        using (var stream = new FileStream(path, FileMode.Create, FileAccess.Write))
            for (long written = 0; written < bytes; written += chunk.Length)
                stream.Write(chunk, 0, (int)Math.Min(chunk.Length, bytes - written));
        WarmPageCache(path);
        return path;
    }

    public static void Delete(string directory)
    {
        try
        {
            System.IO.Directory.Delete(directory, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }

    private static void WarmPageCache(string path)
    {
        byte[] buffer = new byte[1 << 20];
        using var stream = File.OpenRead(path);
        while (stream.Read(buffer) > 0)
        {
        }
    }
}
