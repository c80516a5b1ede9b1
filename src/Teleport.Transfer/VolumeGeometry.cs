using Teleport.Blocks;

namespace Teleport.Transfer;

/// <summary>Size and block size of a migrated volume; the last block may be partial.</summary>
public readonly record struct VolumeGeometry
{
    public VolumeGeometry(long size, int blockSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        BlockSizes.Validate(blockSize);
        Size = size;
        BlockSize = blockSize;
        BlockCount = BlockSizes.CountBlocks(size, blockSize);
    }

    public long Size { get; }

    public int BlockSize { get; }

    public long BlockCount { get; }

    public long Offset(long block) => block * BlockSize;

    /// <summary>Bytes of <paramref name="block"/> inside the volume (the last one may be short).</summary>
    public int BlockLength(long block) => (int)Math.Min(BlockSize, Size - block * BlockSize);

    /// <summary>Bytes covered by blocks [start, start + count).</summary>
    public long RunBytes(long start, long count) => Math.Min(Size, (start + count) * BlockSize) - start * BlockSize;

    /// <summary>True when [start, start + count) is a non-empty run inside the volume.</summary>
    public bool Contains(long start, long count) => start >= 0 && count > 0 && start < BlockCount && count <= BlockCount - start;
}
