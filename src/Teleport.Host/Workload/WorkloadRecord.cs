using System.Buffers.Binary;

namespace Teleport.Host.Workload;

/// <summary>
/// The on-disk record of the guest workload (infra/guest/workload/teleport-writer.c): 4096 bytes, record N at
/// offset N*4096, magic "TPWREC01", sequence, run id, payload, FNV-1a 64 of the first 4088 bytes in the last 8.
/// </summary>
public static class WorkloadRecord
{
    public const int Size = 4096;

    private const int ChecksumOffset = Size - 8;

    public static ReadOnlySpan<byte> Magic => "TPWREC01"u8;

    /// <summary>What one 4096-byte block holds.</summary>
    public static WorkloadBlockKind Classify(ReadOnlySpan<byte> block, long index, ulong? expectedRun)
    {
        if (block.Length != Size)
        {
            throw new ArgumentException($"A record is {Size} bytes, got {block.Length}.", nameof(block));
        }

        if (!block.StartsWith(Magic))
        {
            return block.IndexOfAnyExcept((byte)0) < 0 ? WorkloadBlockKind.Empty : WorkloadBlockKind.Corrupt;
        }

        ulong checksum = BinaryPrimitives.ReadUInt64LittleEndian(block[ChecksumOffset..]);
        if (checksum != Fnv1a(block[..ChecksumOffset])
            || BinaryPrimitives.ReadUInt64LittleEndian(block[8..]) != (ulong)index
            || (expectedRun is ulong run && BinaryPrimitives.ReadUInt64LittleEndian(block[16..]) != run))
        {
            return WorkloadBlockKind.Corrupt;
        }

        return WorkloadBlockKind.Valid;
    }

    /// <summary>FNV-1a 64-bit, as the writer computes it.</summary>
    public static ulong Fnv1a(ReadOnlySpan<byte> data)
    {
        ulong hash = 0xcbf29ce484222325UL;
        foreach (byte b in data)
        {
            hash = (hash ^ b) * 0x100000001b3UL;
        }

        return hash;
    }
}
