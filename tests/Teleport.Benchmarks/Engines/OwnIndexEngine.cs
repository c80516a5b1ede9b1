using Teleport.Blocks;

namespace Teleport.Benchmarks.Engines;

/// <summary>Teleport's own index: the sorted entry table on disk behind an in-memory key summary.</summary>
internal sealed class OwnIndexEngine(string directory) : IIndexEngine
{
    private BlockIndex? _index;

    public string Name => "teleport";

    public void Build(IEnumerable<(ulong High, ulong Low, long Location)> entries, long count)
    {
        using var builder = EntryTable.Build(directory, count);
        foreach (var (high, low, location) in entries)
            builder.Append(new IndexEntry(new IndexKey(high, low), 1, location));
        using var table = builder.Complete();
        var image = new ImageRecord(1, Path.Combine(directory, "image.img")) { Blocks = count, NonZeroBlocks = count };
        IndexFile.Write(IndexFile.PathFor(directory, BlockSizes.Default), BlockSizes.Default, [image], table.Entries);
    }

    public void Open() => _index = BlockIndex.Open(directory);

    // MayContain is the index's candidate search (the same table probe a verified lookup makes before reading the
    // block); the index does not hand out the location, so the key's low half stands in for where to read, which is
    // as scattered as the real one. Presence is what is checked here.
    public long Find(ulong high, ulong low) => _index!.MayContain(new FingerprintPrefix(high, low)) ? (long)(low >> 1) : -1;

    public void Dispose() => _index?.Dispose();
}
