using Teleport.Blocks;

namespace Teleport.Nbd.Exports;

/// <summary>Turns a byte range into the block run of a dirty tracker.</summary>
internal static class DirtySpan
{
    public static void Mark(IDirtyTracker tracker, long offset, long length)
    {
        if (length <= 0)
        {
            return;
        }

        long first = offset / tracker.BlockSize;
        long last = (offset + length - 1) / tracker.BlockSize;
        tracker.MarkDirty(first, last - first + 1);
    }
}
