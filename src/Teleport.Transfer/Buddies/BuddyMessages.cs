using System.Buffers.Binary;
using Teleport.Blocks;
using Teleport.Transfer.Protocol;

namespace Teleport.Transfer.Buddies;

/// <summary>
/// Codecs of the buddy channel: BuddyHello (u32 magic "TLBD", u16 version, u32 block size), BuddyLookup (u16 n, n × 16 B
/// fingerprint prefix) and BuddyBlocks (u16 n, n × u8 found, then the found blocks, each a whole block). Every parser
/// checks every count and length and consumes its payload exactly.
/// </summary>
internal static class BuddyMessages
{
    /// <summary>"TLBD" read as a little-endian integer.</summary>
    public const uint Magic = 0x44424C54;

    public const ushort Version = 1;

    public const int HelloSize = 10;

    /// <summary>Most prefixes one lookup names: 256, and no more than 1 MiB of blocks in the answer.</summary>
    public static int MaxLookup(int blockSize) => Math.Clamp(ProtocolConstants.MaxBatchBytes / blockSize, 1, 256);

    public static int LookupSize(int count) => 2 + (count * FingerprintPrefix.Size);

    public static int BlocksMaxSize(int count, int blockSize) => 2 + count + (count * blockSize);

    public static void WriteHello(Span<byte> payload, int blockSize)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(payload, Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(payload[4..], Version);
        BinaryPrimitives.WriteUInt32LittleEndian(payload[6..], (uint)blockSize);
    }

    /// <summary>The block size a peer's BuddyHello names; a wrong magic or version is refused.</summary>
    public static int ParseHello(ReadOnlySpan<byte> payload)
    {
        var r = new PayloadReader(payload, MessageType.BuddyHello);
        uint magic = r.U32();
        ushort version = r.U16();
        uint blockSize = r.U32();
        r.End();
        if (magic != Magic)
            throw new TransferException(TransferErrorCode.BadFrame, $"BuddyHello magic 0x{magic:x8} is not \"TLBD\"");
        if (version != Version)
            throw new TransferException(TransferErrorCode.UnsupportedVersion, $"buddy protocol version {version}; this side speaks {Version}");
        return (int)Math.Min(blockSize, int.MaxValue);
    }

    public static int WriteLookup(Span<byte> payload, ReadOnlySpan<FingerprintPrefix> prefixes)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(payload, (ushort)prefixes.Length);
        for (int i = 0; i < prefixes.Length; i++)
            prefixes[i].WriteTo(payload[(2 + (i * FingerprintPrefix.Size))..]);
        return LookupSize(prefixes.Length);
    }

    /// <summary>Parses a lookup into <paramref name="prefixes"/> (at least <paramref name="maxCount"/> long); returns the count.</summary>
    public static int ParseLookup(ReadOnlySpan<byte> payload, int maxCount, Span<FingerprintPrefix> prefixes)
    {
        var r = new PayloadReader(payload, MessageType.BuddyLookup);
        int count = r.U16();
        if (count < 1 || count > maxCount)
            throw new TransferException(TransferErrorCode.OutOfRange, $"BuddyLookup names {count} prefixes; 1..{maxCount} are allowed");
        for (int i = 0; i < count; i++)
            prefixes[i] = FingerprintPrefix.Read(r.Bytes(FingerprintPrefix.Size));
        r.End();
        return count;
    }

    /// <summary>
    /// Checks a BuddyBlocks answer to a lookup of <paramref name="count"/> prefixes: the same count, flags 0 or 1 and
    /// exactly one whole block per flag set. Returns the flags; the blocks follow them in order.
    /// </summary>
    public static ReadOnlySpan<byte> ParseBlocks(ReadOnlySpan<byte> payload, int count, int blockSize, out ReadOnlySpan<byte> blocks)
    {
        var r = new PayloadReader(payload, MessageType.BuddyBlocks);
        int answered = r.U16();
        if (answered != count)
            throw new TransferException(TransferErrorCode.BadFrame, $"BuddyBlocks answers {answered} prefixes; {count} were asked");
        var found = r.Bytes(count);
        int hits = 0;
        foreach (byte flag in found)
        {
            if (flag > 1)
                throw new TransferException(TransferErrorCode.BadFrame, $"BuddyBlocks flag {flag} is neither 0 (missing) nor 1 (found)");
            hits += flag;
        }

        blocks = r.Bytes(hits * blockSize);
        r.End();
        return found;
    }
}
