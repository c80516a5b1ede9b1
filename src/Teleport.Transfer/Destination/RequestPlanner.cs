using Teleport.Blocks;
using Teleport.Transfer.Protocol;

namespace Teleport.Transfer;

/// <summary>
/// Decides what the destination asks the source for: single blocks queued as the index is resolved (certain misses go
/// out early, before the batch's local copies), and at the end of the index phase or on reconnect every block neither
/// present nor waiting for a copy. Sorts the blocks into runs and batches them into Request frames.
/// </summary>
internal sealed class RequestPlanner
{
    private readonly BlockBitmap _presence;
    private readonly BlockBitmap _waiting;
    private readonly BlockBitmap _requested;
    private readonly long _blockCount;
    private readonly DestinationStatistics _stats;
    private readonly List<long> _queued = [];
    private readonly List<BlockRun> _runs = new(RequestMessage.MaxRuns);

    /// <summary>
    /// <paramref name="presence"/>: blocks the volume holds; <paramref name="waiting"/>: blocks waiting for a copy of
    /// an earlier block of the volume, never requested in bulk.
    /// </summary>
    public RequestPlanner(BlockBitmap presence, BlockBitmap waiting, DestinationStatistics stats)
    {
        _presence = presence;
        _waiting = waiting;
        _blockCount = presence.BlockCount;
        _requested = new BlockBitmap(_blockCount);
        _stats = stats;
    }

    public bool IsRequested(long block) => _requested.Test(block);

    /// <summary>Requests <paramref name="block"/> with the next <see cref="SendQueuedAsync"/>.</summary>
    public void Queue(long block)
    {
        _requested.Set(block);
        _queued.Add(block);
    }

    /// <summary>
    /// Forgets the requests from <paramref name="block"/> on: a connection resumed in the index phase at that cursor,
    /// where the source drops what it held for them and the index comes again.
    /// </summary>
    public void ForgetFrom(long block)
    {
        if (block < _blockCount)
            _requested.ClearRange(block, _blockCount - block);
        _queued.RemoveAll(b => b >= block);
    }

    /// <summary>Moves the queued blocks into <paramref name="runs"/> (cleared first), ascending and merged.</summary>
    public void TakeQueued(List<BlockRun> runs)
    {
        runs.Clear();
        _queued.Sort();
        foreach (long b in _queued)
        {
            if (runs.Count > 0 && runs[^1].End == b)
                runs[^1] = runs[^1] with { Count = runs[^1].Count + 1 };
            else
                runs.Add(new BlockRun(b, 1));
        }

        _queued.Clear();
    }

    /// <summary>Sends the requests queued since the last call (index misses, waiters whose block changed).</summary>
    public async ValueTask SendQueuedAsync(TransferConnection c, CancellationToken ct)
    {
        if (_queued.Count == 0)
            return;
        _stats.RequestedTotal += _queued.Count;
        TakeQueued(_runs);
        await RunFrames.SendAsync(c, MessageType.Request, _runs, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Requests every block that is neither present nor waiting for a copy (with <paramref name="onlyUnrequested"/>:
    /// and not requested before), then RequestEnd with the totals. Returns the number RequestEnd reports.
    /// </summary>
    public async ValueTask<long> SendMissingAsync(TransferConnection c, bool onlyUnrequested, CancellationToken ct)
    {
        await SendQueuedAsync(c, ct).ConfigureAwait(false);
        long requested = 0;
        _runs.Clear();
        long b = _presence.NextClear(0);
        while (b < _blockCount)
        {
            if (!Wanted(b, onlyUnrequested))
            {
                b = _presence.NextClear(b + 1);
                continue;
            }

            long end = b + 1;
            while (end < _blockCount && !_presence.Test(end) && Wanted(end, onlyUnrequested))
                end++;
            _runs.Add(new BlockRun(b, end - b));
            _requested.SetRange(b, end - b);
            requested += end - b;
            if (_runs.Count == RequestMessage.MaxRuns)
            {
                await RunFrames.SendFrameAsync(c, MessageType.Request, _runs, 0, _runs.Count, ct).ConfigureAwait(false);
                _runs.Clear();
            }

            b = _presence.NextClear(end);
        }

        if (_runs.Count > 0)
            await RunFrames.SendFrameAsync(c, MessageType.Request, _runs, 0, _runs.Count, ct).ConfigureAwait(false);
        if (onlyUnrequested)
        {
            _stats.RequestedTotal += requested;
            requested = _stats.RequestedTotal;
        }

        await c.SendAsync(new RequestEndMessage(requested, _stats.FromIndex, _stats.FromVolume, _stats.ZeroBlocks), ct).ConfigureAwait(false);
        return requested;
    }

    /// <summary>A block absent from the volume that the bulk request should cover.</summary>
    private bool Wanted(long block, bool onlyUnrequested) => !_waiting.Test(block) && !(onlyUnrequested && _requested.Test(block));
}
