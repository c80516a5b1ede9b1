using Teleport.Blocks;

namespace Teleport.Storage.Volumes;

/// <summary>
/// What the NBD export marks: every write goes to the volume's migration tracker and to the indexer's own bitmap,
/// so a migration taking its dirty blocks never hides a change from the index (and the other way round).
/// Taking and counting are the migration tracker's.
/// </summary>
internal sealed class TeeDirtyTracker(IDirtyTracker primary, DirtyBitmap indexDirty, Action written) : IDirtyTracker
{
    public int BlockSize => primary.BlockSize;

    public long BlockCount => primary.BlockCount;

    public long DirtyCount => primary.DirtyCount;

    public void MarkDirty(long firstBlock, long blockCount)
    {
        primary.MarkDirty(firstBlock, blockCount);
        indexDirty.MarkDirty(firstBlock, blockCount);
        written();
    }

    public long TakeDirty(long firstBlock, long blockCount, List<BlockRun> taken) => primary.TakeDirty(firstBlock, blockCount, taken);
}
