using System.Buffers.Binary;
using RocksDbSharp;

namespace Teleport.Benchmarks.Engines;

/// <summary>
/// RocksDB given our memory budget: a block cache of 2 B and a Bloom filter of 10 bits (1.25 B) per entry, no
/// compression (fingerprints do not compress), loaded in bulk without a write-ahead log and compacted once.
/// </summary>
internal sealed class RocksDbIndexEngine(string directory, long entries) : IIndexEngine
{
    private readonly byte[] _key = new byte[16], _value = new byte[8];
    private RocksDb? _db;
    private ReadOptions? _read;

    public string Name => "rocksdb";

    private DbOptions Options()
    {
        var table = new BlockBasedTableOptions()
            .SetBlockCache(Cache.CreateLru((ulong)Math.Max(8L << 20, entries * 2)))
            .SetFilterPolicy(BloomFilterPolicy.Create(10, false))
            .SetWholeKeyFiltering(true);
        return new DbOptions()
            .SetCreateIfMissing(true)
            .SetCompression(Compression.No)
            .SetBlockBasedTableFactory(table);
    }

    public void Build(IEnumerable<(ulong High, ulong Low, long Location)> entries, long count)
    {
        using var db = RocksDb.Open(Options().PrepareForBulkLoad(), directory);
        var write = new WriteOptions().DisableWal(1);
        var batch = new WriteBatch();
        foreach (var (high, low, location) in entries)
        {
            Encode(high, low);
            BinaryPrimitives.WriteInt64LittleEndian(_value, location);
            batch.Put(_key.AsSpan(), _value.AsSpan());
            if (batch.Count() >= 10_000)
            {
                db.Write(batch, write);
                batch.Dispose();
                batch = new WriteBatch();
            }
        }

        db.Write(batch, write);
        batch.Dispose();
        db.Flush(new FlushOptions().SetWaitForFlush(true));
        db.CompactRange((byte[]?)null, null);
    }

    public void Open()
    {
        _db = RocksDb.Open(Options(), directory);
        _read = new ReadOptions().SetVerifyChecksums(false);
    }

    public long Find(ulong high, ulong low)
    {
        Encode(high, low);
        long length = _db!.Get(_key, _value, 0, _value.Length, null, _read);
        return length < 0 ? -1 : BinaryPrimitives.ReadInt64LittleEndian(_value);
    }

    // Big-endian so RocksDB's bytewise order is the keys' numeric order, as they arrive.
    private void Encode(ulong high, ulong low)
    {
        BinaryPrimitives.WriteUInt64BigEndian(_key, high);
        BinaryPrimitives.WriteUInt64BigEndian(_key.AsSpan(8), low);
    }

    public void Dispose() => _db?.Dispose();
}
