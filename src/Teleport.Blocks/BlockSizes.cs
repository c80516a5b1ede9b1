using System.Numerics;

namespace Teleport.Blocks;

/// <summary>Allowed block sizes: powers of two from 512 B to 64 KiB.</summary>
public static class BlockSizes
{
    public const int Default = 4096, Min = 512, Max = 65536;

    /// <summary>Throws <see cref="ArgumentException"/> unless <paramref name="blockSize"/> is a power of two in [Min, Max].</summary>
    public static void Validate(int blockSize)
    {
        if (blockSize < Min || blockSize > Max || !BitOperations.IsPow2(blockSize))
            throw new ArgumentException(
                $"Block size {blockSize} is not allowed: use a power of two from {Min} to {Max} bytes (default {Default}).",
                nameof(blockSize));
    }

    /// <summary>Blocks needed to cover <paramref name="bytes"/>; a final partial block counts.</summary>
    public static long CountBlocks(long bytes, int blockSize)
    {
        Validate(blockSize);
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        return bytes / blockSize + (bytes % blockSize == 0 ? 0 : 1);
    }
}
