using Teleport.Blocks;
using Teleport.Transfer.Protocol;

namespace Teleport.Transfer.Source;

/// <summary>
/// Data frames sent but not yet acknowledged, in sequence order: an Ack retires every frame up to its sequence number,
/// a new connection sends again what the destination did not make durable, and the sender pauses while too many bytes
/// are unacknowledged. Sequence numbers run on across connections.
/// </summary>
internal sealed class InFlightWindow : IDisposable
{
    private readonly Lock _lock = new();
    private readonly Queue<InFlightBatch> _batches = new();
    private readonly SemaphoreSlim _acked = new(0);
    private long _unackedBytes;

    /// <summary>Raw block bytes the frames in flight cover.</summary>
    public long UnackedBytes => Volatile.Read(ref _unackedBytes);

    /// <summary>The sequence number of the last frame sent in this session.</summary>
    public long LastSeq { get; private set; }

    /// <summary>The last frame sent on this connection, or the destination's durable one before any was sent.</summary>
    public long LastSeqOnConnection { get; private set; }

    /// <summary>Waits until the bytes in flight are at most <paramref name="maxUnackedBytes"/>.</summary>
    public async ValueTask WaitForRoomAsync(long maxUnackedBytes, CancellationToken ct)
    {
        while (UnackedBytes > maxUnackedBytes)
            await _acked.WaitAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Numbers the next frame and holds its runs until it is acknowledged; returns its sequence number.</summary>
    public long Add(DataRun[] runs, long bytes)
    {
        lock (_lock)
        {
            long seq = ++LastSeq;
            _batches.Enqueue(new InFlightBatch(seq, runs, bytes));
            _unackedBytes += bytes;
            LastSeqOnConnection = seq;
            return seq;
        }
    }

    /// <summary>The destination made every frame up to <paramref name="seq"/> durable.</summary>
    public void Acknowledge(long seq)
    {
        lock (_lock)
        {
            while (_batches.TryPeek(out var batch) && batch.Seq <= seq)
            {
                _batches.Dequeue();
                _unackedBytes -= batch.Bytes;
            }
        }

        _acked.Release();
    }

    /// <summary>
    /// A new connection: frames after <paramref name="durableSeq"/> were lost with the old one, their blocks go back to
    /// <paramref name="pending"/> (re-read when sent again, so they carry the newest content).
    /// </summary>
    public void Reopen(long durableSeq, PendingBlocks pending)
    {
        lock (_lock)
        {
            foreach (var batch in _batches)
            {
                if (batch.Seq > durableSeq)
                    pending.Add(batch.Runs);
            }

            _batches.Clear();
            _unackedBytes = 0;
            LastSeqOnConnection = durableSeq;
        }
    }

    /// <summary>On failure the blocks of unacknowledged frames go back to the tracker.</summary>
    public void ReturnToTracker(IDirtyTracker tracker)
    {
        lock (_lock)
        {
            foreach (var batch in _batches)
            {
                foreach (var run in batch.Runs)
                    tracker.MarkDirty(run.Start, run.Count);
            }

            _batches.Clear();
        }
    }

    public void Dispose() => _acked.Dispose();
}
