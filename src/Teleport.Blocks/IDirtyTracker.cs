namespace Teleport.Blocks;

/// <summary>
/// Records which blocks of one volume were written since they were last taken.
/// Writers (the NBD export, the kernel target) mark; the data channel takes.
/// A write that races with <see cref="TakeDirty"/> is never lost: it is either in the
/// taken runs or still dirty afterwards.
/// </summary>
public interface IDirtyTracker
{
    /// <summary>Tracking granularity in bytes (a power of two, 512 to 65536).</summary>
    int BlockSize { get; }

    /// <summary>Number of blocks the tracked volume has (the last one may be partial).</summary>
    long BlockCount { get; }

    /// <summary>Blocks currently dirty.</summary>
    long DirtyCount { get; }

    /// <summary>Marks blocks dirty: used by writers, and to put back blocks whose transfer failed.</summary>
    void MarkDirty(long firstBlock, long blockCount);

    /// <summary>
    /// Atomically clears the dirty blocks in [firstBlock, firstBlock + blockCount) and appends them to
    /// <paramref name="taken"/> as maximal runs in ascending order. Returns the number of blocks taken.
    /// </summary>
    long TakeDirty(long firstBlock, long blockCount, List<BlockRun> taken);
}
