namespace Teleport.Benchmarks.Engines;

/// <summary>
/// A key-value store tried as the block index: 16-byte fingerprint prefixes to an 8-byte location. Each engine is
/// built once from keys in ascending order (how our own index is written), closed, reopened, then only read.
/// </summary>
internal interface IIndexEngine : IDisposable
{
    string Name { get; }

    /// <summary>Writes what the engine's own measurements need besides the keys (before the build is timed).</summary>
    void Prepare()
    {
    }

    /// <summary>Bulk-loads the keys (ascending), each with its location, and closes what it wrote.</summary>
    void Build(IEnumerable<(ulong High, ulong Low, long Location)> entries, long count);

    /// <summary>Opens what <see cref="Build"/> wrote, for reading.</summary>
    void Open();

    /// <summary>The location stored for the key, or -1.</summary>
    long Find(ulong high, ulong low);
}
