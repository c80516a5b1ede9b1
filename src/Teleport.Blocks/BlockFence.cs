namespace Teleport.Blocks;

/// <summary>
/// The fence over a volume that is served to its VM before it holds every block (fenced early resume). A fenced block
/// is one whose content is still on its way from the source. Guest I/O and the arriving tail meet here, per block:
/// <list type="bullet">
/// <item>a read, or a write that covers a fenced block only in part, waits until the block has arrived (and asks for
/// it at once through the requester); everything else goes ahead at once;</item>
/// <item>a guest write makes its blocks the guest's (a fully covered fenced block is unfenced by it): the tail never
/// writes a guest block again, its late copy is dropped (<see cref="BeginArrival"/> says no);</item>
/// <item>a tail write of a block is bracketed by <see cref="BeginArrival"/> and <see cref="EndArrival"/>; a guest write
/// of that block waits for the end, so the guest's data always lands last.</item>
/// </list>
/// A wait is bounded by <see cref="WaitTimeout"/>; past it the I/O fails with an <see cref="IOException"/> (an NBD
/// EIO), never with stale data. Thread-safe: guest I/O comes from many threads, the tail from one.
/// </summary>
public sealed class BlockFence
{
    private readonly Lock _lock = new();
    private readonly ulong[] _fenced;
    private readonly ulong[] _arriving;
    private readonly ulong[] _guest;
    private readonly ulong[] _wanted;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Action<IReadOnlyList<BlockRun>>? _requester;
    private long _fencedCount;
    private long _timedOut;
    private volatile bool _armed;

    public BlockFence(long volumeBytes, int blockSize, TimeSpan waitTimeout)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(waitTimeout, TimeSpan.Zero);
        BlockCount = BlockSizes.CountBlocks(volumeBytes, blockSize);
        VolumeBytes = volumeBytes;
        BlockSize = blockSize;
        WaitTimeout = waitTimeout;
        long words = (BlockCount + 63) / 64;
        _fenced = new ulong[words];
        _arriving = new ulong[words];
        _guest = new ulong[words];
        _wanted = new ulong[words];
    }

    public long VolumeBytes { get; }

    public int BlockSize { get; }

    public long BlockCount { get; }

    /// <summary>How long guest I/O waits for a fenced block before it fails.</summary>
    public TimeSpan WaitTimeout { get; }

    /// <summary>True once the fenced set is known (<see cref="Arm"/>): the volume may be served from then on.</summary>
    public bool Armed => _armed;

    /// <summary>Blocks still fenced.</summary>
    public long FencedCount => Interlocked.Read(ref _fencedCount);

    /// <summary>Guest I/O that failed because a block did not arrive within <see cref="WaitTimeout"/>.</summary>
    public long TimedOutWaits => Interlocked.Read(ref _timedOut);

    /// <summary>
    /// Who fetches a fenced block a guest waits for, ahead of the background stream (the destination session). Called
    /// outside the fence's lock, once per block until <see cref="RequestWaitingAgain"/>.
    /// </summary>
    public void AttachRequester(Action<IReadOnlyList<BlockRun>> requester) => _requester = requester;

    /// <summary>Fences the blocks of <paramref name="runs"/> that the guest has not written; may be called more than once.</summary>
    public void Arm(IEnumerable<BlockRun> runs)
    {
        ArgumentNullException.ThrowIfNull(runs);
        lock (_lock)
        {
            foreach (var run in runs)
            {
                CheckBlocks(run.Start, run.Count);
                for (long b = run.Start; b < run.End; b++)
                {
                    if (!Test(_guest, b) && SetBit(_fenced, b))
                        _fencedCount++;
                }
            }

            _armed = true;
        }
    }

    /// <summary>True when the guest wrote <paramref name="block"/>: what the volume holds there is the guest's.</summary>
    public bool IsGuestBlock(long block)
    {
        lock (_lock)
            return Test(_guest, block);
    }

    public bool IsFenced(long block)
    {
        lock (_lock)
            return Test(_fenced, block);
    }

    /// <summary>Waits until no block of the range is fenced (asking for the fenced ones at once).</summary>
    public ValueTask WaitReadableAsync(long offset, long length, CancellationToken cancellationToken)
    {
        CheckRange(offset, length);
        return FencedCount == 0 ? ValueTask.CompletedTask : WaitAsync(offset, length, write: false, cancellationToken);
    }

    /// <summary>
    /// Makes the range the guest's before it writes there: waits while a block it covers only in part is fenced or
    /// any of its blocks is being written by the tail, then unfences the fully covered ones. Call before the write.
    /// </summary>
    public ValueTask ClaimForWriteAsync(long offset, long length, CancellationToken cancellationToken)
    {
        CheckRange(offset, length);
        return WaitAsync(offset, length, write: true, cancellationToken);
    }

    /// <summary>The tail is about to write <paramref name="block"/>: false when the guest owns it (drop the late copy).</summary>
    public bool BeginArrival(long block)
    {
        lock (_lock)
        {
            CheckBlocks(block, 1);
            if (Test(_guest, block))
                return false;
            SetBit(_arriving, block);
            return true;
        }
    }

    /// <summary>The tail's write of the range begun with <see cref="BeginArrival"/> is on the volume: its blocks are no longer fenced.</summary>
    public void EndArrival(long start, long count)
    {
        lock (_lock)
        {
            CheckBlocks(start, count);
            for (long b = start; b < start + count; b++)
            {
                if (!ClearBit(_arriving, b))
                    continue;
                if (ClearBit(_fenced, b))
                    _fencedCount--;
                ClearBit(_wanted, b);
            }

            Signal();
        }
    }

    /// <summary>Asks again for every fenced block a guest already waits for (a new data channel connection: a request may have been lost).</summary>
    public void RequestWaitingAgain()
    {
        var runs = new List<BlockRun>();
        lock (_lock)
        {
            for (long b = 0; b < BlockCount; b++)
            {
                if (Test(_wanted, b) && Test(_fenced, b))
                    AddBlock(runs, b);
            }
        }

        if (runs.Count > 0)
            _requester?.Invoke(runs);
    }

    private async ValueTask WaitAsync(long offset, long length, bool write, CancellationToken cancellationToken)
    {
        var wanted = new List<BlockRun>();
        long deadline = Environment.TickCount64 + (long)WaitTimeout.TotalMilliseconds;
        while (true)
        {
            Task changed;
            long blockedAt;
            lock (_lock)
            {
                blockedAt = Blocked(offset, length, write, wanted);
                if (blockedAt < 0)
                {
                    if (write)
                        Claim(offset, length);
                    return;
                }

                changed = _changed.Task;
            }

            if (wanted.Count > 0)
            {
                _requester?.Invoke(wanted);
                wanted = [];
            }

            long remaining = deadline - Environment.TickCount64;
            try
            {
                if (remaining <= 0)
                    throw new TimeoutException();
                await changed.WaitAsync(TimeSpan.FromMilliseconds(remaining), cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                Interlocked.Increment(ref _timedOut);
                Forget(offset, length);
                throw new IOException(
                    $"block {blockedAt} has not arrived from the source within {WaitTimeout.TotalSeconds:0.###} s (fenced; is the data channel down?)");
            }
        }
    }

    // Caller holds the lock. The first block that keeps the I/O waiting, or -1; fenced blocks nobody asked for yet go into wanted.
    private long Blocked(long offset, long length, bool write, List<BlockRun> wanted)
    {
        long first = offset / BlockSize, last = (offset + length - 1) / BlockSize, blocked = -1;
        for (long b = first; b <= last; b++)
        {
            bool waits = write ? Test(_arriving, b) || (Test(_fenced, b) && !Covers(offset, length, b)) : Test(_fenced, b);
            if (!waits)
                continue;
            if (blocked < 0)
                blocked = b;
            if (Test(_fenced, b) && SetBit(_wanted, b))
                AddBlock(wanted, b);
        }

        return blocked;
    }

    // A waiter gave up: whoever waits for these blocks next asks for them again.
    private void Forget(long offset, long length)
    {
        lock (_lock)
        {
            for (long b = offset / BlockSize; b <= (offset + length - 1) / BlockSize; b++)
                ClearBit(_wanted, b);
        }
    }

    // Caller holds the lock and checked that nothing blocks the write.
    private void Claim(long offset, long length)
    {
        long first = offset / BlockSize, last = (offset + length - 1) / BlockSize;
        bool unfenced = false;
        for (long b = first; b <= last; b++)
        {
            SetBit(_guest, b);
            if (ClearBit(_fenced, b))
            {
                _fencedCount--;
                unfenced = true;
            }
        }

        if (unfenced)
            Signal();
    }

    private bool Covers(long offset, long length, long block)
    {
        long start = block * BlockSize, end = Math.Min(start + BlockSize, VolumeBytes);
        return offset <= start && offset + length >= end;
    }

    private void Signal()
    {
        var old = _changed;
        _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        old.TrySetResult();
    }

    private static void AddBlock(List<BlockRun> runs, long block)
    {
        if (runs.Count > 0 && runs[^1].End == block)
            runs[^1] = runs[^1] with { Count = runs[^1].Count + 1 };
        else
            runs.Add(new BlockRun(block, 1));
    }

    private void CheckRange(long offset, long length)
    {
        if (offset < 0 || length <= 0 || offset > VolumeBytes || length > VolumeBytes - offset)
            throw new ArgumentOutOfRangeException(nameof(offset), $"Range {offset}+{length} is outside the fenced volume of {VolumeBytes} bytes.");
    }

    private void CheckBlocks(long start, long count)
    {
        if (start < 0 || count < 0 || start > BlockCount || count > BlockCount - start)
            throw new ArgumentOutOfRangeException(nameof(start), $"Blocks [{start}, +{count}) are outside the fenced volume of {BlockCount} blocks.");
    }

    private static bool Test(ulong[] bits, long b) => (bits[b >> 6] & (1UL << (int)(b & 63))) != 0;

    private static bool SetBit(ulong[] bits, long b)
    {
        ulong mask = 1UL << (int)(b & 63);
        bool was = (bits[b >> 6] & mask) != 0;
        bits[b >> 6] |= mask;
        return !was;
    }

    private static bool ClearBit(ulong[] bits, long b)
    {
        ulong mask = 1UL << (int)(b & 63);
        bool was = (bits[b >> 6] & mask) != 0;
        bits[b >> 6] &= ~mask;
        return was;
    }
}
