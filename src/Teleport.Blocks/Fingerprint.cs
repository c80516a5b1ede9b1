using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace Teleport.Blocks;

/// <summary>
/// SHA-256 of one block (32 bytes, held inline). SHA-256 rather than a fast non-cryptographic hash so that
/// a tenant cannot craft a block that another tenant's migration would accept as matching.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public readonly struct Fingerprint : IEquatable<Fingerprint>
{
    /// <summary>Size of a fingerprint in bytes.</summary>
    public const int Size = 32;

    // The 32 bytes exactly as SHA-256 produced them (memory order), read as four native words.
    private readonly ulong _w0, _w1, _w2, _w3;

    /// <summary>Fingerprints one block. A final partial block is fingerprinted zero-padded to the block size by
    /// <see cref="ImageScanner"/> and <see cref="BlockIndex"/>, so callers must pad the same way.</summary>
    public static Fingerprint Compute(ReadOnlySpan<byte> block)
    {
        Unsafe.SkipInit(out Fingerprint fingerprint);
        SHA256.HashData(block, AsWritableBytes(ref fingerprint));
        return fingerprint;
    }

    /// <summary>
    /// As <see cref="Compute(ReadOnlySpan{byte})"/>, through a SHA-256 <paramref name="hasher"/> the caller keeps (it is
    /// left reset): the one-shot call sets up and frees OpenSSL's context per block, about 0.15 us of a 4 KiB block's
    /// 2.8 us, which a loop over many blocks need not pay.
    /// </summary>
    public static Fingerprint Compute(ReadOnlySpan<byte> block, IncrementalHash hasher)
    {
        Unsafe.SkipInit(out Fingerprint fingerprint);
        hasher.AppendData(block);
        hasher.GetHashAndReset(AsWritableBytes(ref fingerprint));
        return fingerprint;
    }

    /// <summary>
    /// Fingerprints one block of a volume, where the volume's last block may be shorter than the block size: it is
    /// fingerprinted zero-padded to <paramref name="blockBuffer"/>'s length (the block size), as every index does.
    /// <paramref name="blockBuffer"/> is scratch space; <paramref name="data"/> may already be it.
    /// </summary>
    public static Fingerprint ComputePadded(ReadOnlySpan<byte> data, Span<byte> blockBuffer)
    {
        if (data.Length == blockBuffer.Length)
            return Compute(data);
        if (data.Length > blockBuffer.Length)
            throw new ArgumentException($"A block of {data.Length} bytes does not fit a block size of {blockBuffer.Length}.", nameof(data));
        data.CopyTo(blockBuffer);
        blockBuffer[data.Length..].Clear();
        return Compute(blockBuffer);
    }

    /// <summary>Reads a fingerprint from the first 32 bytes of <paramref name="source"/>.</summary>
    public static Fingerprint Read(ReadOnlySpan<byte> source)
    {
        if (source.Length < Size)
            throw new ArgumentException($"A fingerprint needs {Size} bytes; got {source.Length}.", nameof(source));
        return MemoryMarshal.Read<Fingerprint>(source);
    }

    /// <summary>Writes the 32 bytes into the start of <paramref name="destination"/>.</summary>
    public void WriteTo(Span<byte> destination)
    {
        if (destination.Length < Size)
            throw new ArgumentException($"A fingerprint needs {Size} bytes; got {destination.Length}.", nameof(destination));
        MemoryMarshal.Write(destination, in this);
    }

    /// <summary>First 8 bytes as a little-endian integer (uniformly distributed; for hashing and buckets).</summary>
    public ulong Prefix64 => BitConverter.IsLittleEndian ? _w0 : BinaryPrimitives.ReverseEndianness(_w0);

    /// <summary>Bytes 8..15 as a little-endian integer (with <see cref="Prefix64"/>, the 128-bit index key).</summary>
    public ulong Second64 => BitConverter.IsLittleEndian ? _w1 : BinaryPrimitives.ReverseEndianness(_w1);

    public bool Equals(Fingerprint other) =>
        _w0 == other._w0 && _w1 == other._w1 && _w2 == other._w2 && _w3 == other._w3;

    public override bool Equals(object? obj) => obj is Fingerprint other && Equals(other);

    public override int GetHashCode() => (int)_w0 ^ (int)(_w0 >> 32);

    public static bool operator ==(Fingerprint left, Fingerprint right) => left.Equals(right);

    public static bool operator !=(Fingerprint left, Fingerprint right) => !left.Equals(right);

    /// <summary>Lowercase hex of the 32 bytes.</summary>
    public override string ToString()
    {
        Span<byte> bytes = stackalloc byte[Size];
        WriteTo(bytes);
        return Convert.ToHexStringLower(bytes);
    }

    private static Span<byte> AsWritableBytes(ref Fingerprint fingerprint) =>
        MemoryMarshal.AsBytes(MemoryMarshal.CreateSpan(ref fingerprint, 1));
}
