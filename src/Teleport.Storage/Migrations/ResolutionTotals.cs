using Teleport.Transfer;

namespace Teleport.Storage.Migrations;

/// <summary>How this worker's incoming migrations resolved their blocks, summed since it started (read by its metrics).</summary>
public sealed class ResolutionTotals
{
    private long _fromIndex;
    private long _fromVolume;
    private long _requested;
    private long _fromBuddies;

    /// <summary>Blocks rebuilt from the content index.</summary>
    public long FromIndex => Interlocked.Read(ref _fromIndex);

    /// <summary>Blocks the destination already held or copied from elsewhere in the same volume.</summary>
    public long FromVolume => Interlocked.Read(ref _fromVolume);

    /// <summary>Blocks pulled from buddies (storage workers of this site).</summary>
    public long FromBuddies => Interlocked.Read(ref _fromBuddies);

    /// <summary>Blocks asked of the source.</summary>
    public long Requested => Interlocked.Read(ref _requested);

    internal void Add(IndexReport report)
    {
        Interlocked.Add(ref _fromIndex, report.FromIndex);
        Interlocked.Add(ref _fromVolume, report.FromVolume);
        Interlocked.Add(ref _requested, report.Requested);
        Interlocked.Add(ref _fromBuddies, report.FromBuddies);
    }
}
