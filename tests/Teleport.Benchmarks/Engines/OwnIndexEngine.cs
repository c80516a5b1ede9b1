using System.Diagnostics;
using Teleport.Blocks;

namespace Teleport.Benchmarks.Engines;

/// <summary>
/// Teleport's own index: the sorted entry table on disk behind an in-memory key summary. Beside the synthetic keys
/// its table holds the real fingerprints of a 256 MiB image's blocks (the image is written at build), so verified
/// hits can also be measured through the index itself, one at a time and in batches (<see cref="VerifiedRates"/>).
/// </summary>
internal sealed class OwnIndexEngine(string directory) : IIndexEngine
{
    private const long ImageBytes = 256L << 20;
    private const int BlockSize = BlockSizes.Default;
    private const int WarmUp = 1 << 16;
    private BlockIndex? _index;

    public string Name => "teleport";

    private string ImagePath => Path.Combine(directory, ImageDirectory, $"random-{ImageBytes}.img");

    /// <summary>Where the image lives, beside the index (not counted in its bytes on disk).</summary>
    public const string ImageDirectory = "image";

    private (IndexKey Key, long Block)[] _real = [];

    public void Prepare()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(ImagePath)!);
        BenchFiles.Random(Path.GetDirectoryName(ImagePath)!, ImageBytes, seed: 5);
        _real = RealKeys();
    }

    public void Build(IEnumerable<(ulong High, ulong Low, long Location)> entries, long count)
    {
        var real = _real;
        using var builder = EntryTable.Build(directory, count + real.Length);
        int next = 0;
        foreach (var (high, low, location) in entries)
        {
            var key = new IndexKey(high, low);
            for (; next < real.Length && Compare(real[next].Key, key) < 0; next++)
                builder.Append(new IndexEntry(real[next].Key, 1, real[next].Block));
            builder.Append(new IndexEntry(key, 1, location));
        }
        for (; next < real.Length; next++)
            builder.Append(new IndexEntry(real[next].Key, 1, real[next].Block));
        using var table = builder.Complete();
        var image = new ImageRecord(1, ImagePath) { Blocks = count, NonZeroBlocks = count };
        IndexFile.Write(IndexFile.PathFor(directory, BlockSize), BlockSize, [image], table.Entries);
    }

    public void Open() => _index = BlockIndex.Open(directory);

    // MayContain is the index's candidate search (the same table probe a verified lookup makes before reading the
    // block); the index does not hand out the location, so the key's low half stands in for where to read, which is
    // as scattered as the real one. Presence is what is checked here.
    public long Find(ulong high, ulong low) => _index!.MayContain(new FingerprintPrefix(high, low)) ? (long)(low >> 1) : -1;

    /// <summary>
    /// Verified hits per CPU second through the index, of <paramref name="samples"/> lookups of the image's blocks in
    /// random order: one <see cref="BlockIndex.TryReadVerified(in FingerprintPrefix, Span{byte}, out Fingerprint)"/>
    /// each, then <see cref="BlockIndex.ReadVerified"/> in batches of <paramref name="batch"/>, each after a warm-up of
    /// 64 Ki lookups that is not timed. Every one must hit.
    /// </summary>
    public (double Single, double Batched, string Method) VerifiedRates(int samples, int batch)
    {
        var prefixes = RealPrefixes(samples);
        byte[] block = new byte[BlockSize];
        // Warmed up first, each path on its own (the JIT's tiers and their compiles would count in the CPU time):
        // a storage worker's lookups run at the steady state, not in the first calls.
        for (int i = 0; i < Math.Min(samples, WarmUp); i++)
            _index!.TryReadVerified(prefixes[i], block, out _);
        var cpu = CpuClock.Start();
        for (int i = 0; i < samples; i++)
            if (!_index!.TryReadVerified(prefixes[i], block, out _))
                throw new InvalidOperationException($"teleport: verified lookup {i} missed");
        double single = samples / cpu.Seconds();
        BatchedRate(prefixes.AsSpan(0, Math.Min(samples, WarmUp)).ToArray(), batch);
        return (single, BatchedRate(prefixes, batch), _index!.BatchReadMethod);
    }

    /// <summary>Verified hits per CPU second of <see cref="BlockIndex.ReadVerified"/> in batches of <paramref name="batch"/>.</summary>
    public double BatchedRate(FingerprintPrefix[] prefixes, int batch)
    {
        byte[] blocks = new byte[batch * BlockSize];
        bool[] hits = new bool[batch];
        var found = new Fingerprint[batch];
        var cpu = CpuClock.Start();
        for (int from = 0; from < prefixes.Length; from += batch)
        {
            int n = Math.Min(batch, prefixes.Length - from);
            if (_index!.ReadVerified(prefixes.AsSpan(from, n), blocks.AsSpan(0, n * BlockSize), hits, found) != n)
                throw new InvalidOperationException($"teleport: a batched verified lookup from {from} missed");
        }
        return prefixes.Length / cpu.Seconds();
    }

    /// <summary><paramref name="samples"/> prefixes of the image's blocks, in random order (every one must hit).</summary>
    public FingerprintPrefix[] RealPrefixes(int samples)
    {
        var real = RealKeys();
        var random = new Random(17);
        var prefixes = new FingerprintPrefix[samples];
        for (int i = 0; i < samples; i++)
        {
            var key = real[random.Next(real.Length)].Key;
            prefixes[i] = new FingerprintPrefix(key.High, key.Low);
        }
        return prefixes;
    }

    /// <summary>Every block of the image once, in random order (each entry read once, as from a table not resident).</summary>
    public FingerprintPrefix[] EachRealPrefix()
    {
        var prefixes = RealKeys().Select(r => new FingerprintPrefix(r.Key.High, r.Key.Low)).ToArray();
        new Random(19).Shuffle(prefixes);
        return prefixes;
    }

    /// <summary>
    /// Every block of the image once, in its block order: a destination's lookups of a volume whose content the index
    /// holds in the same order (where <see cref="BlockIndex.PredictsLocality"/> serves).
    /// </summary>
    public FingerprintPrefix[] EachRealPrefixInBlockOrder() =>
        RealKeys().OrderBy(r => r.Block).Select(r => new FingerprintPrefix(r.Key.High, r.Key.Low)).ToArray();

    /// <summary>Evicts the image's pages from the page cache (a volume not read lately).</summary>
    public void DropImagePages()
    {
        using var file = File.OpenHandle(ImagePath);
        NativeFile.DropCache(file);
    }

    /// <summary>The index itself, for the cold-table measurement (<see cref="ColdLookups"/>).</summary>
    public BlockIndex Index => _index ?? throw new InvalidOperationException("Open the index first.");

    public void Dispose() => _index?.Dispose();

    // The image's blocks' keys, ascending, with their block numbers.
    private (IndexKey Key, long Block)[] RealKeys()
    {
        using var file = File.OpenHandle(ImagePath);
        byte[] block = new byte[BlockSize];
        var keys = new (IndexKey, long)[ImageBytes / BlockSize];
        for (long b = 0; b < keys.Length; b++)
        {
            FileReads.ReadExactly(file, block, b * BlockSize);
            keys[b] = (IndexKey.Of(Fingerprint.Compute(block)), b);
        }
        Array.Sort(keys, (x, y) => Compare(x.Item1, y.Item1));
        return keys;
    }

    private static int Compare(IndexKey x, IndexKey y) => x.High != y.High ? x.High.CompareTo(y.High) : x.Low.CompareTo(y.Low);

    /// <summary>CPU time of this process from a start (the machine is shared: wall time would count others' turns).</summary>
    private readonly struct CpuClock(TimeSpan start)
    {
        public static CpuClock Start() => new(Process.GetCurrentProcess().TotalProcessorTime);

        public double Seconds() => (Process.GetCurrentProcess().TotalProcessorTime - start).TotalSeconds;
    }
}
