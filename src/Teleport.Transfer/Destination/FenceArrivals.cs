using Teleport.Blocks;

namespace Teleport.Transfer;

/// <summary>How the source's late copies of a fenced volume's blocks skip the blocks the guest has written since.</summary>
internal static class FenceArrivals
{
    /// <summary>
    /// The next run of blocks in [offset + at, offset + total) the tail may write (begun on the fence: end it after the
    /// write), relative to <paramref name="offset"/>; the guest's blocks in between are skipped.
    /// </summary>
    public static bool NextArrival(this BlockFence fence, in VolumeGeometry geometry, long offset, long total, ref long at, out long start, out long length)
    {
        while (at < total && !fence.BeginArrival((offset + at) / geometry.BlockSize))
            at += geometry.BlockLength((offset + at) / geometry.BlockSize);
        start = at;
        while (at < total && (at == start || fence.BeginArrival((offset + at) / geometry.BlockSize)))
            at += geometry.BlockLength((offset + at) / geometry.BlockSize);
        length = at - start;
        return length > 0;
    }

    /// <summary>Blocks that <paramref name="bytes"/> from a block boundary touch.</summary>
    public static long BlocksIn(in VolumeGeometry geometry, long bytes) => (bytes + geometry.BlockSize - 1) / geometry.BlockSize;
}
