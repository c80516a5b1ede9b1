using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Teleport.Blocks;
using Teleport.Transfer.Protocol;

namespace Teleport.Transfer;

/// <summary>
/// The destination's durable progress, kept in a small file beside the volume: which migration and source session it
/// belongs to, the phase, the index cursor, the highest durable Data sequence number, and the presence map (blocks the
/// volume holds as the source sent them). It is only ever written after the volume was flushed, and atomically
/// (temp file, fsync, rename), so after a crash it never claims data the volume does not have.
/// </summary>
internal sealed class DestinationState
{
    private const uint FileMagic = 0x53504C54; // "TLPS"
    private const ushort FileVersion = 1;
    private const int FixedSize = 4 + 2 + 16 + 16 + 8 + 4 + 1 + 1 + 8 + 8 + ProtocolConstants.DigestSize + 8;

    public DestinationState(Guid migrationId, Guid sourceSessionId, VolumeGeometry geometry, bool fresh)
    {
        MigrationId = migrationId;
        SourceSessionId = sourceSessionId;
        Geometry = geometry;
        Fresh = fresh;
        Presence = new BlockBitmap(geometry.BlockCount);
    }

    public Guid MigrationId { get; }

    public Guid SourceSessionId { get; }

    public VolumeGeometry Geometry { get; }

    /// <summary>The volume was created empty for this source session: a block never written is all zeros.</summary>
    public bool Fresh { get; }

    public DestinationPhase Phase { get; set; }

    public long IndexCursor { get; set; }

    public long DurableSeq { get; set; }

    public byte[] Digest { get; set; } = new byte[ProtocolConstants.DigestSize];

    public BlockBitmap Presence { get; }

    /// <summary>Reads the state file; null when absent. A damaged file is reported as an exception.</summary>
    public static DestinationState? Load(string path)
    {
        if (!File.Exists(path))
            return null;
        byte[] bytes = File.ReadAllBytes(path);
        if (bytes.Length < FixedSize + 32)
            throw new InvalidDataException($"state file {path} is truncated ({bytes.Length} bytes)");
        var body = bytes.AsSpan(0, bytes.Length - 32);
        if (!SHA256.HashData(body).AsSpan().SequenceEqual(bytes.AsSpan(bytes.Length - 32)))
            throw new InvalidDataException($"state file {path} fails its checksum");
        if (BinaryPrimitives.ReadUInt32LittleEndian(body) != FileMagic || BinaryPrimitives.ReadUInt16LittleEndian(body[4..]) != FileVersion)
            throw new InvalidDataException($"{path} is not a Teleport destination state file of version {FileVersion}");
        int p = 6;
        var migration = new Guid(body.Slice(p, 16)); p += 16;
        var session = new Guid(body.Slice(p, 16)); p += 16;
        long size = BinaryPrimitives.ReadInt64LittleEndian(body[p..]); p += 8;
        int blockSize = BinaryPrimitives.ReadInt32LittleEndian(body[p..]); p += 4;
        bool fresh = body[p++] != 0;
        byte phase = body[p++];
        var state = new DestinationState(migration, session, new VolumeGeometry(size, blockSize), fresh)
        {
            Phase = phase <= (byte)DestinationPhase.Completed ? (DestinationPhase)phase : throw new InvalidDataException($"state file {path} has phase {phase}"),
            IndexCursor = BinaryPrimitives.ReadInt64LittleEndian(body[p..]),
            DurableSeq = BinaryPrimitives.ReadInt64LittleEndian(body[(p + 8)..]),
        };
        p += 16;
        state.Digest = body.Slice(p, ProtocolConstants.DigestSize).ToArray(); p += ProtocolConstants.DigestSize;
        long words = BinaryPrimitives.ReadInt64LittleEndian(body[p..]); p += 8;
        if (words != state.Presence.Words.Length || body.Length - p != words * 8)
            throw new InvalidDataException($"state file {path} has a presence map of the wrong size");
        state.Presence.LoadWords(MemoryMarshal.Cast<byte, ulong>(body[p..]));
        return state;
    }

    /// <summary>Writes the state atomically and (unless <paramref name="durable"/> is false) durably. Call only after flushing the volume.</summary>
    public void Save(string path, bool durable = true)
    {
        ulong[] words = Presence.Words;
        byte[] bytes = new byte[FixedSize + words.Length * 8 + 32];
        var s = bytes.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(s, FileMagic);
        BinaryPrimitives.WriteUInt16LittleEndian(s[4..], FileVersion);
        int p = 6;
        MigrationId.TryWriteBytes(s.Slice(p, 16)); p += 16;
        SourceSessionId.TryWriteBytes(s.Slice(p, 16)); p += 16;
        BinaryPrimitives.WriteInt64LittleEndian(s[p..], Geometry.Size); p += 8;
        BinaryPrimitives.WriteInt32LittleEndian(s[p..], Geometry.BlockSize); p += 4;
        s[p++] = Fresh ? (byte)1 : (byte)0;
        s[p++] = (byte)Phase;
        BinaryPrimitives.WriteInt64LittleEndian(s[p..], IndexCursor); p += 8;
        BinaryPrimitives.WriteInt64LittleEndian(s[p..], DurableSeq); p += 8;
        Digest.CopyTo(s[p..]); p += ProtocolConstants.DigestSize;
        BinaryPrimitives.WriteInt64LittleEndian(s[p..], words.Length); p += 8;
        MemoryMarshal.AsBytes(words.AsSpan()).CopyTo(s[p..]);
        SHA256.HashData(s[..^32], s[^32..]);

        string temp = path + ".tmp";
        using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            file.Write(bytes);
            file.Flush(flushToDisk: durable);
        }

        File.Move(temp, path, overwrite: true);
        if (durable)
            DurableFile.SyncDirectoryOf(path); // the rename too, before a Resume or an acknowledgement claims it
    }
}
