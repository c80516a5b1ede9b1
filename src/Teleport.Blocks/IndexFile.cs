using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Teleport.Blocks;

/// <summary>
/// The on-disk index: a 64-byte header (magic, version, block size, counts, payload checksum, header checksum),
/// the image table, then the sorted entries verbatim (24 bytes each, little-endian). Everything after the
/// header is covered by XxHash64; any mismatch, truncation or inconsistency is an <see cref="IndexCorruptException"/>.
/// The file is replaced whole (temporary file, fsync, rename, directory fsync): a crash leaves the old or the new one.
/// </summary>
internal static class IndexFile
{
    public const int Version = 1;
    private const int HeaderSize = 64;
    private const int ChunkEntries = 1 << 16;
    private static ReadOnlySpan<byte> Magic => "TPBLKIDX"u8;

    public sealed record Contents(List<ImageRecord> Images, EntryTable Table);

    public static string PathFor(string directory, int blockSize) => Path.Combine(directory, $"blocks-{blockSize}.tpidx");

    /// <summary>Writes atomically: a temporary file in the same directory, flushed to disk, then renamed over.</summary>
    public static void Write(string path, int blockSize, IReadOnlyList<ImageRecord> images, ReadOnlySpan<IndexEntry> entries,
        Action<long>? afterChunk = null)
    {
        EnsureLittleEndian();
        byte[] table = EncodeImages(images);
        var hash = new XxHash64();
        hash.Append(table);
        for (int i = 0; i < entries.Length; i += ChunkEntries)
            hash.Append(MemoryMarshal.AsBytes(entries.Slice(i, Math.Min(ChunkEntries, entries.Length - i))));

        Span<byte> header = stackalloc byte[HeaderSize];
        header.Clear();
        Magic.CopyTo(header);
        BinaryPrimitives.WriteInt32LittleEndian(header[8..], Version);
        BinaryPrimitives.WriteInt32LittleEndian(header[12..], blockSize);
        BinaryPrimitives.WriteInt32LittleEndian(header[16..], images.Count);
        BinaryPrimitives.WriteInt64LittleEndian(header[24..], entries.Length);
        BinaryPrimitives.WriteInt64LittleEndian(header[32..], table.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(header[40..], hash.GetCurrentHashAsUInt64());
        BinaryPrimitives.WriteUInt64LittleEndian(header[56..], XxHash64.HashToUInt64(header[..56]));

        string temp = $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            {
                stream.Write(header);
                stream.Write(table);
                for (int i = 0; i < entries.Length; i += ChunkEntries)
                {
                    stream.Write(MemoryMarshal.AsBytes(entries.Slice(i, Math.Min(ChunkEntries, entries.Length - i))));
                    afterChunk?.Invoke(stream.Position); // test seam: a fault part-way through the write
                }
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: true);
            DurableFile.SyncDirectoryOf(path);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    /// <summary>Reads and checks the file, streaming its entries into a new table in <paramref name="workDirectory"/>.</summary>
    public static Contents Read(string path, int blockSize, string workDirectory)
    {
        EnsureLittleEndian();
        try
        {
            using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            var (imageCount, entryCount, tableBytes, checksum) = ReadHeader(handle, path, blockSize);

            var hash = new XxHash64();
            byte[] table = new byte[tableBytes];
            FileReads.ReadExactly(handle, table, HeaderSize);
            hash.Append(table);
            var images = DecodeImages(path, table, imageCount);
            using var builder = EntryTable.Build(workDirectory, entryCount);
            ReadEntries(handle, path, HeaderSize + tableBytes, entryCount, KnownIds(images), hash, builder);
            if (hash.GetCurrentHashAsUInt64() != checksum)
                throw Corrupt(path, "the content checksum does not match");
            // Lookups read the working table from now on: the saved file's pages would only crowd it out of the cache.
            NativeFile.DropCache(handle);
            return new Contents(images, builder.Complete());
        }
        catch (IOException e) when (e is not FileNotFoundException)
        {
            throw Corrupt(path, $"reading it failed ({e.Message})", e);
        }
    }

    // Streams the entries through a pooled chunk: hashed, checked (known image, strictly ascending) and appended.
    private static void ReadEntries(SafeFileHandle handle, string path, long offset, long count, bool[] known, XxHash64 hash,
        EntryTable.Builder builder)
    {
        var chunk = new IndexEntry[Math.Min(ChunkEntries, count)];
        IndexEntry previous = default;
        for (long i = 0; i < count; i += chunk.Length)
        {
            var entries = chunk.AsSpan(0, (int)Math.Min(chunk.Length, count - i));
            var bytes = MemoryMarshal.AsBytes(entries);
            FileReads.ReadExactly(handle, bytes, offset);
            hash.Append(bytes);
            offset += bytes.Length;
            for (int k = 0; k < entries.Length; k++)
            {
                int id = entries[k].ImageId;
                if (id >= known.Length || !known[id])
                    throw Corrupt(path, $"entry {i + k} refers to image {id}, which the file does not list");
                if (i + k > 0 && previous.CompareTo(entries[k]) >= 0)
                    throw Corrupt(path, $"entries are not in strictly ascending key order at entry {i + k}");
                previous = entries[k];
                builder.Append(entries[k]);
            }
        }
    }

    // Checks the header against the file's length and the expected block size; returns its counts and checksum.
    private static (int ImageCount, long EntryCount, long TableBytes, ulong Checksum) ReadHeader(SafeFileHandle handle, string path, int blockSize)
    {
        long length = RandomAccess.GetLength(handle);
        Span<byte> header = stackalloc byte[HeaderSize];
        if (length < HeaderSize || FileReads.ReadAtMost(handle, header, 0) != HeaderSize)
            throw Corrupt(path, $"it is {length} bytes long, shorter than the {HeaderSize}-byte header (truncated)");
        if (!header[..8].SequenceEqual(Magic))
            throw Corrupt(path, "it does not start with the index magic (not an index file)");
        if (BinaryPrimitives.ReadUInt64LittleEndian(header[56..]) != XxHash64.HashToUInt64(header[..56]))
            throw Corrupt(path, "the header checksum does not match");
        int version = BinaryPrimitives.ReadInt32LittleEndian(header[8..]);
        if (version != Version)
            throw Corrupt(path, $"format version {version} is not the supported version {Version}");
        int fileBlockSize = BinaryPrimitives.ReadInt32LittleEndian(header[12..]);
        if (fileBlockSize != blockSize)
            throw Corrupt(path, $"it was built for block size {fileBlockSize}, not {blockSize}");
        int imageCount = BinaryPrimitives.ReadInt32LittleEndian(header[16..]);
        long entryCount = BinaryPrimitives.ReadInt64LittleEndian(header[24..]);
        long tableBytes = BinaryPrimitives.ReadInt64LittleEndian(header[32..]);
        ulong checksum = BinaryPrimitives.ReadUInt64LittleEndian(header[40..]);
        if (imageCount < 0 || imageCount > IndexEntry.MaxImageId || entryCount < 0 || entryCount > Array.MaxLength
            || tableBytes < 0 || tableBytes > int.MaxValue)
            throw Corrupt(path, "the header's counts are out of range");
        long expected = HeaderSize + tableBytes + entryCount * IndexEntry.Size;
        if (length != expected)
            throw Corrupt(path, $"it is {length} bytes long but its header describes {expected} bytes (truncated or overwritten)");
        return (imageCount, entryCount, tableBytes, checksum);
    }

    private static bool[] KnownIds(List<ImageRecord> images)
    {
        bool[] known = new bool[images.Count == 0 ? 1 : images.Max(i => i.Id) + 1];
        foreach (var image in images)
            known[image.Id] = true;
        return known;
    }

    private static byte[] EncodeImages(IReadOnlyList<ImageRecord> images)
    {
        using var buffer = new MemoryStream();
        using var writer = new BinaryWriter(buffer, Encoding.UTF8);
        foreach (var image in images)
        {
            writer.Write(image.Id);
            writer.Write(image.Path);
            var identity = image.Identity;
            writer.Write(identity.HasValue);
            var id = identity.GetValueOrDefault();
            writer.Write(id.Device);
            writer.Write(id.Inode);
            writer.Write(id.Size);
            writer.Write(id.ModifiedNs);
            writer.Write(id.ChangedNs);
            writer.Write(id.IsBlockDevice);
            writer.Write(image.Blocks);
            writer.Write(image.ZeroBlocks);
            writer.Write(image.NonZeroBlocks);
            writer.Write(image.SharedBlocks);
        }
        writer.Flush();
        return buffer.ToArray();
    }

    private static List<ImageRecord> DecodeImages(string path, byte[] table, int count)
    {
        var images = new List<ImageRecord>(count);
        var seen = new HashSet<int>();
        try
        {
            using var reader = new BinaryReader(new MemoryStream(table), Encoding.UTF8);
            for (int i = 0; i < count; i++)
            {
                int id = reader.ReadInt32();
                string imagePath = reader.ReadString();
                bool hasIdentity = reader.ReadBoolean();
                var identity = new ImageIdentity(reader.ReadUInt64(), reader.ReadUInt64(), reader.ReadInt64(),
                    reader.ReadInt64(), reader.ReadInt64(), reader.ReadBoolean());
                if (id < 1 || id > IndexEntry.MaxImageId || !seen.Add(id) || imagePath.Length == 0)
                    throw Corrupt(path, $"image record {i} has an invalid id or path");
                images.Add(new ImageRecord(id, imagePath)
                {
                    Identity = hasIdentity ? identity : null,
                    Blocks = reader.ReadInt64(),
                    ZeroBlocks = reader.ReadInt64(),
                    NonZeroBlocks = reader.ReadInt64(),
                    SharedBlocks = reader.ReadInt64(),
                });
            }
            if (reader.BaseStream.Position != table.Length)
                throw Corrupt(path, "the image table has trailing bytes");
        }
        catch (EndOfStreamException e)
        {
            throw Corrupt(path, "the image table is shorter than its image count", e);
        }
        catch (FormatException e)
        {
            throw Corrupt(path, "the image table is malformed", e);
        }
        return images;
    }

    private static IndexCorruptException Corrupt(string path, string reason, Exception? inner = null) => new(path, reason, inner);

    private static void EnsureLittleEndian()
    {
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("The block index file format is little-endian only.");
    }
}
