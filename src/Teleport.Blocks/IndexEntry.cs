using System.Runtime.InteropServices;

namespace Teleport.Blocks;

/// <summary>
/// One index entry, 24 bytes: the 128-bit key and a location packing a 20-bit image id (1-based; 0 never
/// occurs) with a 44-bit block number. Stored verbatim (little-endian) in the index file.
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 8)]
internal struct IndexEntry : IComparable<IndexEntry>
{
    public const int Size = 24;
    public const int ImageIdBits = 20, BlockBits = 44;
    public const int MaxImageId = (1 << ImageIdBits) - 1;
    public const long MaxBlock = (1L << BlockBits) - 1;

    public ulong KeyHigh;
    public ulong KeyLow;
    public ulong Location;

    public IndexEntry(IndexKey key, int imageId, long block)
    {
        KeyHigh = key.High;
        KeyLow = key.Low;
        Location = Pack(imageId, block);
    }

    public readonly int ImageId => ImageIdOf(Location);

    public readonly long Block => BlockOf(Location);

    public static int ImageIdOf(ulong location) => (int)(location >> BlockBits);

    public static long BlockOf(ulong location) => (long)(location & MaxBlock);

    public static ulong Pack(int imageId, long block) => ((ulong)imageId << BlockBits) | (ulong)block;

    public readonly int CompareTo(IndexEntry other)
    {
        int c = KeyHigh.CompareTo(other.KeyHigh);
        return c != 0 ? c : KeyLow.CompareTo(other.KeyLow);
    }

    public readonly bool SameKey(in IndexEntry other) => KeyHigh == other.KeyHigh && KeyLow == other.KeyLow;
}
