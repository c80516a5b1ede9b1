using System.Buffers.Binary;
using Microsoft.Win32.SafeHandles;

namespace Teleport.Cli.Demo;

/// <summary>
/// Generates the demo's base image and the related volume to migrate, deterministically and fast (no hashing, no
/// compression): like a VM cloned from a golden image and used for a while. Of the volume's blocks outside the
/// VM's write window, about 55% are the base image's block at the same place (the destination's index has them),
/// 20% are zero and 25% are new data the source must send. Data blocks are half random, half repeated text, so
/// zstd roughly halves what is sent, as with real file-system contents.
/// </summary>
public static class DemoImages
{
    public const int BlockSize = 4096;

    /// <summary>The VM writes its records into the first eighth of the volume (record N at N*4096, as the QEMU guest's writer does).</summary>
    private const int WindowShare = 8;

    private const int BlocksPerChunk = 256;
    private const ulong BaseStream = 0x1000_0000_0000_0000UL;
    private const ulong NewStream = 0x2000_0000_0000_0000UL;

    private static readonly byte[] Text =
        "Apr 14 03:12:55 web-7 nginx: 10.0.3.17 - - \"GET /shop/cart?id=%08x HTTP/1.1\" 200 5316 \"-\" \"Mozilla/5.0\"\n"u8.ToArray();

    /// <summary>Writes <c>base.img</c> into <paramref name="baseDirectory"/> and <c>VOLUME.img</c> into <paramref name="volumeDirectory"/>.</summary>
    public static DemoLayout Generate(string baseDirectory, string volumeDirectory, string volumeName, long volumeBytes, ulong seed = 42)
    {
        if (volumeBytes <= 0 || volumeBytes % BlockSize != 0)
            throw new ArgumentOutOfRangeException(nameof(volumeBytes), volumeBytes, $"the volume must be a positive multiple of {BlockSize} bytes");
        long blocks = volumeBytes / BlockSize;
        long windowBlocks = Math.Max(1, blocks / WindowShare);
        string basePath = Path.Combine(baseDirectory, "base.img");
        string volumePath = Path.Combine(volumeDirectory, volumeName + ".img");
        long fromBase = 0, fresh = 0, zero = 0;

        using var baseFile = CreateSparse(basePath, volumeBytes);
        using var volumeFile = CreateSparse(volumePath, volumeBytes);
        byte[] baseChunk = new byte[BlocksPerChunk * BlockSize];
        byte[] volumeChunk = new byte[BlocksPerChunk * BlockSize];
        for (long first = 0; first < blocks; first += BlocksPerChunk)
        {
            int count = (int)Math.Min(BlocksPerChunk, blocks - first);
            Array.Clear(baseChunk);
            Array.Clear(volumeChunk);
            bool baseData = false, volumeData = false;
            for (int i = 0; i < count; i++)
            {
                long block = first + i;
                var baseBlock = baseChunk.AsSpan(i * BlockSize, BlockSize);
                // A tenth of the golden image is free space.
                bool baseHasData = Roll(seed, BaseStream, block) >= 10;
                if (baseHasData)
                {
                    FillData(baseBlock, seed ^ BaseStream ^ (ulong)block);
                    baseData = true;
                }

                if (block < windowBlocks)
                    continue; // the VM's records go here: zero until it writes
                var kind = FillVolumeBlock(volumeChunk.AsSpan(i * BlockSize, BlockSize), baseHasData ? baseBlock : default, seed, block);
                fromBase += kind == VolumeBlock.FromBase ? 1 : 0;
                fresh += kind == VolumeBlock.Fresh ? 1 : 0;
                zero += kind == VolumeBlock.Zero ? 1 : 0;
                volumeData |= kind != VolumeBlock.Zero;
            }

            // All-zero chunks stay holes, as unused space in a thin-provisioned volume.
            long offset = first * BlockSize;
            if (baseData)
                RandomAccess.Write(baseFile, baseChunk.AsSpan(0, count * BlockSize), offset);
            if (volumeData)
                RandomAccess.Write(volumeFile, volumeChunk.AsSpan(0, count * BlockSize), offset);
        }

        return new DemoLayout(basePath, volumePath, volumeBytes, blocks, fromBase, fresh, zero + windowBlocks, 0, windowBlocks);
    }

    private enum VolumeBlock { FromBase, Zero, Fresh }

    // 55% the base's block where the base has data there, 20% zero (free space, or a clone of the base's free space), the rest new data.
    private static VolumeBlock FillVolumeBlock(Span<byte> volumeBlock, ReadOnlySpan<byte> baseBlock, ulong seed, long block)
    {
        int roll = Roll(seed, NewStream, block);
        if (roll < 55 && !baseBlock.IsEmpty)
        {
            baseBlock.CopyTo(volumeBlock);
            return VolumeBlock.FromBase;
        }

        if (roll < 75)
            return VolumeBlock.Zero;
        FillData(volumeBlock, seed ^ NewStream ^ (ulong)block);
        return VolumeBlock.Fresh;
    }

    private static SafeFileHandle CreateSparse(string path, long bytes)
    {
        var handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read);
        RandomAccess.SetLength(handle, bytes);
        return handle;
    }

    // A number 0..99 fixed by (seed, stream, block).
    private static int Roll(ulong seed, ulong stream, long block) => (int)(SplitMix(seed ^ stream ^ (ulong)block * 0x9E3779B97F4A7C15UL) % 100);

    private static ulong SplitMix(ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }

    // First half: xorshift noise (incompressible); second half: a log line with the key in it, repeated.
    private static void FillData(Span<byte> block, ulong key)
    {
        ulong x = SplitMix(key) | 1;
        int half = block.Length / 2;
        for (int i = 0; i < half; i += 8)
        {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            BinaryPrimitives.WriteUInt64LittleEndian(block[i..], x);
        }

        var rest = block[half..];
        for (int i = 0; i < rest.Length; i += Text.Length)
            Text.AsSpan(0, Math.Min(Text.Length, rest.Length - i)).CopyTo(rest[i..]);
        // The key makes each block's text unique, so blocks never repeat inside the volume by accident.
        BinaryPrimitives.WriteUInt64LittleEndian(rest, key);
    }
}
