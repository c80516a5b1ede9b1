using Teleport.Blocks;
using Teleport.Transfer.Protocol;

namespace Teleport.Transfer.Source;

/// <summary>
/// Blocks the source still has to send: those requested by the destination, taken from the dirty tracker for a
/// round, or handed back when a connection ended. Thread-safe: the destination's requests arrive on the reader while
/// frames are built on the sender.
/// </summary>
internal sealed class PendingBlocks
{
    private readonly IDirtyTracker _tracker;
    private readonly BlockBitmap _pending;

    // Blocks a guest waits for on the destination (fenced early resume): sent first, at the start of the next frame.
    private readonly BlockBitmap _urgent;

    // Blocks taken for a frame on the current connection: in flight to the destination (or back in _pending).
    private readonly BlockBitmap _takenOnConnection;
    private readonly Lock _lock = new();
    private readonly List<BlockRun> _taken = [];

    public PendingBlocks(IDirtyTracker tracker)
    {
        _tracker = tracker;
        _pending = new BlockBitmap(tracker.BlockCount);
        _urgent = new BlockBitmap(tracker.BlockCount);
        _takenOnConnection = new BlockBitmap(tracker.BlockCount);
    }

    /// <summary>A new connection: nothing is in flight on it yet.</summary>
    public void BeginConnection()
    {
        lock (_lock)
            _takenOnConnection.ClearAll();
    }

    /// <summary>Blocks still to send: dirty in the tracker plus pending here.</summary>
    public long Outstanding
    {
        get
        {
            lock (_lock)
                return _tracker.DirtyCount + _pending.Count;
        }
    }

    public void Add(long start, long count)
    {
        lock (_lock)
            _pending.SetRange(start, count);
    }

    public void Add(List<BlockRun> runs)
    {
        lock (_lock)
        {
            foreach (var run in runs)
                _pending.SetRange(run.Start, run.Count);
        }
    }

    public void Add(ReadOnlySpan<DataRun> runs)
    {
        lock (_lock)
        {
            foreach (var run in runs)
                _pending.SetRange(run.Start, run.Count);
        }
    }

    /// <summary>
    /// Adds the blocks not taken for a frame on this connection: for a request list the destination made before this
    /// connection carried any Data, whose blocks already taken are on their way to it (adding them would send them twice).
    /// </summary>
    public void AddUnlessTaken(List<BlockRun> runs)
    {
        lock (_lock)
        {
            foreach (var run in runs)
            {
                for (long b = run.Start, end = run.End; b < end;)
                {
                    long taken = _takenOnConnection.NextSet(b);
                    long stop = taken < 0 || taken > end ? end : taken;
                    _pending.SetRange(b, stop - b);
                    b = stop < end ? Math.Min(_takenOnConnection.NextClear(stop), end) : end;
                }
            }
        }
    }

    /// <summary>Blocks the destination needs at once: pending, and taken before any other at the start of a frame.</summary>
    public void AddUrgent(List<BlockRun> runs)
    {
        lock (_lock)
        {
            foreach (var run in runs)
            {
                _pending.SetRange(run.Start, run.Count);
                _urgent.SetRange(run.Start, run.Count);
            }
        }
    }

    /// <summary>Every pending block as runs (what the final round is about to send).</summary>
    public List<BlockRun> Snapshot()
    {
        lock (_lock)
            return [.. _pending.Runs()];
    }

    /// <summary>Moves every dirty block of the tracker here (a round begins); returns the blocks now pending.</summary>
    public long TakeDirty()
    {
        lock (_lock)
        {
            _tracker.TakeDirty(0, _tracker.BlockCount, _taken);
            foreach (var run in _taken)
                _pending.SetRange(run.Start, run.Count);
            _taken.Clear();
            return _pending.Count;
        }
    }

    /// <summary>Forgets what the tracker holds: the index scan reads the volume from now on, so it covers those writes.</summary>
    public void DropDirty()
    {
        lock (_lock)
        {
            _tracker.TakeDirty(0, _tracker.BlockCount, _taken);
            _taken.Clear();
        }
    }

    /// <summary>
    /// Takes the first pending range at or after <paramref name="cursor"/>, at most <paramref name="maxBlocks"/> long,
    /// and moves the cursor past it. With <paramref name="mayWrap"/> it continues from the volume's start when nothing
    /// is pending after the cursor.
    /// </summary>
    public bool TryTake(ref long cursor, bool mayWrap, long maxBlocks, out long start, out long count)
    {
        count = 0;
        lock (_lock)
        {
            // Urgent blocks may start a frame (runs must ascend within one): the background cursor then continues after them.
            if (mayWrap && maxBlocks > 0 && _urgent.Count > 0 && TakeUrgent(ref cursor, maxBlocks, out start, out count))
                return true;
            start = _pending.NextSet(cursor);
            if (start < 0 && cursor > 0 && mayWrap)
            {
                cursor = 0;
                start = _pending.NextSet(0);
            }

            if (start < 0 || maxBlocks == 0)
                return false;
            count = Math.Min(_pending.NextClear(start) - start, maxBlocks);
            _pending.ClearRange(start, count);
            _takenOnConnection.SetRange(start, count);
            cursor = start + count;
            return true;
        }
    }

    // Caller holds the lock. An urgent block no longer pending was sent since it was asked for: forget it.
    private bool TakeUrgent(ref long cursor, long maxBlocks, out long start, out long count)
    {
        long blocks = _pending.BlockCount;
        for (start = _urgent.NextSet(0); start >= 0 && start < blocks; start = _urgent.NextSet(start + 1))
        {
            if (!_pending.Test(start))
            {
                _urgent.Clear(start);
                continue;
            }

            long end = start + 1;
            while (end < blocks && end - start < maxBlocks && _urgent.Test(end) && _pending.Test(end))
                end++;
            count = end - start;
            _pending.ClearRange(start, count);
            _urgent.ClearRange(start, count);
            _takenOnConnection.SetRange(start, count);
            cursor = end;
            return true;
        }

        start = count = 0;
        return false;
    }

    /// <summary>
    /// Forgets the pending blocks from <paramref name="block"/> on: a destination resumed in its index phase at that
    /// cursor resolves them again from the index and asks for what it lacks (Data for them before that would be refused).
    /// </summary>
    public void DropFrom(long block)
    {
        lock (_lock)
        {
            long count = _pending.BlockCount - block;
            if (count <= 0)
                return;
            _pending.ClearRange(block, count);
            _urgent.ClearRange(block, count);
        }
    }

    /// <summary>On failure everything pending goes back to the tracker, to be sent by a later attempt.</summary>
    public void ReturnToTracker()
    {
        lock (_lock)
        {
            foreach (var run in _pending.Runs())
                _tracker.MarkDirty(run.Start, run.Count);
            _pending.ClearAll();
            _urgent.ClearAll();
        }
    }
}
