namespace Teleport.Transfer;

/// <summary>
/// Copies of the runs of blocks written since the last checkpoint, kept so that the checkpoint's read-back can compare
/// a block this side hashed before writing it (an index hit, a local copy) with the bytes it wrote, instead of hashing
/// it a second time: equal bytes hold the content of the fingerprint those bytes hashed to. Bounded: runs past the
/// budget are not kept (their blocks are hashed at the read-back, as are blocks of overlapping runs). Runs are packed
/// into slabs of 1 MiB allocated once and reused from checkpoint to checkpoint (a pooled array per run would come back
/// as a large-object allocation whenever the pool runs dry).
/// </summary>
internal sealed class WrittenCopies(long budgetBytes) : IDisposable
{
    /// <summary>Slab size: a run (one gathered write) is at most this long.</summary>
    public const int SlabBytes = 1 << 20;

    private readonly List<(long Offset, int Slab, int At, int Length)> _runs = [];
    private readonly List<byte[]> _slabs = [];
    private int _slab, _used;
    private long _end;
    private bool _unordered;
    private bool _overlap;

    /// <summary>Keeps a copy of <paramref name="data"/>, written at <paramref name="offset"/>, if the budget allows.</summary>
    public void Keep(ReadOnlySpan<byte> data, long offset)
    {
        if (_overlap || data.Length > SlabBytes)
            return;
        if (_used + data.Length > SlabBytes)
        {
            // The next slab, if the budget has room for it.
            if ((long)(_slab + 2) * SlabBytes > budgetBytes)
                return;
            _slab++;
            _used = 0;
        }
        else if ((long)(_slab + 1) * SlabBytes > budgetBytes)
        {
            return;
        }

        if (offset < _end)
        {
            // Written again or out of order: overlapping copies could answer with an older write, so none answers.
            _unordered = true;
            long end = offset + data.Length;
            _overlap = _runs.Exists(r => offset < r.Offset + r.Length && r.Offset < end);
            if (_overlap)
                return;
        }

        if (_slab == _slabs.Count)
            _slabs.Add(new byte[SlabBytes]);
        data.CopyTo(_slabs[_slab].AsSpan(_used));
        _runs.Add((offset, _slab, _used, data.Length));
        _used += data.Length;
        _end = Math.Max(_end, offset + data.Length);
    }

    /// <summary>Orders the runs for <see cref="TryGet"/>; call before the lookups of a read-back (which may run on several threads).</summary>
    public void Seal()
    {
        if (!_unordered)
            return;
        _runs.Sort((a, b) => a.Offset.CompareTo(b.Offset));
        _unordered = false;
    }

    /// <summary>The kept bytes of [offset, offset + length), if one run holds all of them. Thread-safe after <see cref="Seal"/>.</summary>
    public bool TryGet(long offset, int length, out ReadOnlySpan<byte> bytes)
    {
        bytes = default;
        if (_overlap)
            return false;
        int lo = 0, hi = _runs.Count - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            var run = _runs[mid];
            if (offset < run.Offset)
                hi = mid - 1;
            else if (offset >= run.Offset + run.Length)
                lo = mid + 1;
            else if (offset + length <= run.Offset + run.Length)
            {
                bytes = _slabs[run.Slab].AsSpan(run.At + (int)(offset - run.Offset), length);
                return true;
            }
            else
                return false;
        }

        return false;
    }

    /// <summary>Forgets every copy (after the read-back); the slabs stay for the next checkpoint's copies.</summary>
    public void Clear()
    {
        _runs.Clear();
        _slab = _used = 0;
        _end = 0;
        _unordered = _overlap = false;
    }

    public void Dispose()
    {
        Clear();
        _slabs.Clear();
    }
}
