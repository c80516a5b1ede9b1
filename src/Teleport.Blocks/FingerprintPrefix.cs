using System.Buffers.Binary;

namespace Teleport.Blocks;

/// <summary>
/// The first 128 bits of a <see cref="Fingerprint"/>: what the index stream carries per block and what the index is
/// keyed by. Too short to trust alone, so whatever is built from one is checked by the full fingerprint of the bytes
/// read (the index's verified read, the destination's read-back and the volume digest).
/// </summary>
/// <param name="High">Bytes 0..7 read little-endian (<see cref="Fingerprint.Prefix64"/>).</param>
/// <param name="Low">Bytes 8..15 read little-endian (<see cref="Fingerprint.Second64"/>).</param>
public readonly record struct FingerprintPrefix(ulong High, ulong Low)
{
    /// <summary>Size of a prefix in bytes.</summary>
    public const int Size = 16;

    public static FingerprintPrefix Of(in Fingerprint fingerprint) => new(fingerprint.Prefix64, fingerprint.Second64);

    /// <summary>Reads a prefix from the first 16 bytes of <paramref name="source"/> (the fingerprint's byte order).</summary>
    public static FingerprintPrefix Read(ReadOnlySpan<byte> source)
    {
        if (source.Length < Size)
            throw new ArgumentException($"A fingerprint prefix needs {Size} bytes; got {source.Length}.", nameof(source));
        return new(BinaryPrimitives.ReadUInt64LittleEndian(source), BinaryPrimitives.ReadUInt64LittleEndian(source[8..]));
    }

    /// <summary>Writes the 16 bytes into the start of <paramref name="destination"/>, as they are in the fingerprint.</summary>
    public void WriteTo(Span<byte> destination)
    {
        if (destination.Length < Size)
            throw new ArgumentException($"A fingerprint prefix needs {Size} bytes; got {destination.Length}.", nameof(destination));
        BinaryPrimitives.WriteUInt64LittleEndian(destination, High);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[8..], Low);
    }

    /// <summary>True when <paramref name="fingerprint"/> starts with this prefix.</summary>
    public bool Matches(in Fingerprint fingerprint) => fingerprint.Prefix64 == High && fingerprint.Second64 == Low;

    /// <summary>A fingerprint whose first 16 bytes are this prefix and the rest zero (to derive an index key from).</summary>
    internal Fingerprint Padded()
    {
        Span<byte> bytes = stackalloc byte[Fingerprint.Size];
        bytes.Clear();
        WriteTo(bytes);
        return Fingerprint.Read(bytes);
    }

    public override string ToString()
    {
        Span<byte> bytes = stackalloc byte[Size];
        WriteTo(bytes);
        return Convert.ToHexStringLower(bytes);
    }
}
