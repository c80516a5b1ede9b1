using System.Buffers.Binary;
using System.Runtime.InteropServices;
using LightningDB;

namespace Teleport.Benchmarks.Engines;

/// <summary>
/// LMDB: a copy-on-write B+tree in one memory-mapped file; its memory is the pages the kernel keeps mapped, not a
/// budget it can be given. Keys appended in order (MDB_APPEND), one transaction per million.
/// </summary>
internal sealed class LmdbIndexEngine(string directory) : IIndexEngine
{
    private readonly byte[] _key = new byte[16], _value = new byte[8];
    private LightningEnvironment? _environment;
    private LightningDatabase? _database;
    private LightningTransaction? _reader;

    public string Name => "lmdb";

    // LightningDB 0.24's own liblmdb.so needs glibc 2.38; Debian 12 has 2.36, so the system's (package liblmdb0) is used.
    static LmdbIndexEngine() => NativeLibrary.SetDllImportResolver(typeof(LightningEnvironment).Assembly, (name, assembly, path) =>
        name == "lmdb" && NativeLibrary.TryLoad("liblmdb.so.0", out nint handle) ? handle : IntPtr.Zero);

    private LightningEnvironment Environment(long count)
    {
        // Leaf entries take about 40 bytes with their node headers; the map only reserves address space.
        var environment = new LightningEnvironment(directory, new EnvironmentConfiguration { MapSize = Math.Max(1L << 30, count * 128) });
        environment.Open(EnvironmentOpenFlags.NoSync | EnvironmentOpenFlags.NoReadAhead);
        return environment;
    }

    public void Build(IEnumerable<(ulong High, ulong Low, long Location)> entries, long count)
    {
        using var environment = Environment(count);
        var transaction = environment.BeginTransaction();
        var database = transaction.OpenDatabase(configuration: new DatabaseConfiguration { Flags = DatabaseOpenFlags.Create });
        long written = 0;
        foreach (var (high, low, location) in entries)
        {
            Encode(high, low);
            BinaryPrimitives.WriteInt64LittleEndian(_value, location);
            transaction.Put(database, _key, _value, PutOptions.AppendData);
            if (++written % 1_000_000 == 0)
            {
                transaction.Commit();
                transaction.Dispose();
                transaction = environment.BeginTransaction();
            }
        }

        transaction.Commit();
        transaction.Dispose();
        environment.Flush(true);
        database.Dispose();
    }

    public void Open()
    {
        _environment = Environment(0);
        using (var transaction = _environment.BeginTransaction())
        {
            _database = transaction.OpenDatabase();
            transaction.Commit();
        }

        _reader = _environment.BeginTransaction(TransactionBeginFlags.ReadOnly);
    }

    public long Find(ulong high, ulong low)
    {
        Encode(high, low);
        var (code, _, value) = _reader!.Get(_database!, _key.AsSpan());
        return code == MDBResultCode.Success ? BinaryPrimitives.ReadInt64LittleEndian(value.AsSpan()) : -1;
    }

    private void Encode(ulong high, ulong low)
    {
        BinaryPrimitives.WriteUInt64BigEndian(_key, high);
        BinaryPrimitives.WriteUInt64BigEndian(_key.AsSpan(8), low);
    }

    public void Dispose()
    {
        _reader?.Dispose();
        _database?.Dispose();
        _environment?.Dispose();
    }
}
