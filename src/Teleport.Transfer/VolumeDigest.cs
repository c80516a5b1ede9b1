using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Teleport.Blocks;

namespace Teleport.Transfer;

/// <summary>
/// The end-to-end check: SHA-256 over the volume size, the block size and every block's fingerprint in order
/// (a final partial block fingerprinted zero-padded). Source and destination compute it independently.
/// </summary>
internal static class VolumeDigest
{
    public static byte[] Compute(in VolumeGeometry geometry, ReadOnlySpan<Fingerprint> fingerprints)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> header = stackalloc byte[12];
        BinaryPrimitives.WriteInt64LittleEndian(header, geometry.Size);
        BinaryPrimitives.WriteInt32LittleEndian(header[8..], geometry.BlockSize);
        hash.AppendData(header);
        hash.AppendData(MemoryMarshal.AsBytes(fingerprints));
        return hash.GetHashAndReset();
    }
}
