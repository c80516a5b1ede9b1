using System.Numerics;

namespace Teleport.Nbd.Server;

/// <summary>
/// Bytes of payload buffers that all connections of one server hold at once: WRITE payloads from before they are read
/// until they are written to the export, READ slices while their reply is sent. A connection waits here before renting
/// (back-pressure: it stops reading its socket, or its reply waits); waiters are served first come, first served, so a
/// large request is never overtaken forever by small ones. Holders never wait here again while holding, so every wait
/// ends once the holders finish.
/// </summary>
internal sealed class NbdMemoryBudget
{
    // Buffers of this size or more live on the large object heap, freed only by a full collection.
    private const long LargeObject = 1 << 20;

    private readonly Lock _lock = new();
    private readonly LinkedList<Waiter> _waiters = new();
    private readonly NbdBufferPool _pool = new();
    private long _inUse;
    private long _highWater;

    public NbdMemoryBudget(long capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
    }

    public long Capacity { get; }

    public long InUse
    {
        get
        {
            lock (_lock)
            {
                return _inUse;
            }
        }
    }

    /// <summary>The most bytes ever held at once.</summary>
    public long HighWater
    {
        get
        {
            lock (_lock)
            {
                return _highWater;
            }
        }
    }

    /// <summary>Requests waiting for bytes.</summary>
    public int Waiting
    {
        get
        {
            lock (_lock)
            {
                return _waiters.Count;
            }
        }
    }

    /// <summary>Bytes of buffers kept for reuse; with those in use they stay within <see cref="Capacity"/>.</summary>
    public long Kept => _pool.Kept;

    /// <summary>What a buffer of <paramref name="length"/> bytes occupies: buffers are kept in powers of two.</summary>
    public static long CostOf(int length) => length <= 16 ? 16 : (long)BitOperations.RoundUpToPowerOf2((uint)length);

    /// <summary>
    /// Takes <paramref name="bytes"/>, waiting while they are not free. Once this returns the caller owns the bytes (even
    /// if <paramref name="cancellationToken"/> fired meanwhile) and must <see cref="Release"/> them; a cancelled wait owns nothing.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">More than the whole budget: it could never be granted.</exception>
    public ValueTask AcquireAsync(long bytes, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(bytes, Capacity);
        LinkedListNode<Waiter> node;
        lock (_lock)
        {
            if (_waiters.Count == 0 && _inUse + bytes <= Capacity)
            {
                TakeLocked(bytes);
                return ValueTask.CompletedTask;
            }

            node = _waiters.AddLast(new Waiter(bytes));
        }

        return WaitAsync(node, cancellationToken);
    }

    /// <summary>
    /// Waits for the bytes of a buffer of at least <paramref name="length"/> bytes, then takes a kept one or makes one
    /// (letting go of kept buffers of other sizes first, so kept and used bytes stay within the budget); give it back with <see cref="Return"/>.
    /// </summary>
    public async ValueTask<byte[]> RentAsync(int length, CancellationToken cancellationToken)
    {
        long size = CostOf(length);
        await AcquireAsync(size, cancellationToken).ConfigureAwait(false);
        if (_pool.TryTake(size) is { } kept)
        {
            return kept;
        }

        // A large buffer let go of stays resident until a full collection; without one, the next large request
        // would make resident memory twice the budget. Trims happen only at the budget, when the sizes asked change.
        if (_pool.Trim(Capacity - InUse) >= LargeObject)
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: false);
        return GC.AllocateUninitializedArray<byte>((int)size);
    }

    /// <summary>Keeps a buffer from <see cref="RentAsync"/> for reuse and frees its bytes.</summary>
    public void Return(byte[] buffer)
    {
        _pool.Put(buffer);
        Release(buffer.Length);
    }

    public void Release(long bytes)
    {
        List<Waiter>? granted;
        lock (_lock)
        {
            _inUse -= bytes;
            NbdServerMetrics.MemoryInUse(-bytes);
            granted = GrantLocked();
        }

        Wake(granted);
    }

    private async ValueTask WaitAsync(LinkedListNode<Waiter> node, CancellationToken cancellationToken)
    {
        await using (cancellationToken.Register(() => Cancel(node, cancellationToken)).ConfigureAwait(false))
        {
            await node.Value.Granted.Task.ConfigureAwait(false);
        }
    }

    private void Cancel(LinkedListNode<Waiter> node, CancellationToken cancellationToken)
    {
        List<Waiter>? granted;
        lock (_lock)
        {
            if (node.List is null)
            {
                return; // granted already: the caller owns the bytes
            }

            _waiters.Remove(node);
            // The head leaving may let those behind it in.
            granted = GrantLocked();
        }

        node.Value.Granted.TrySetCanceled(cancellationToken);
        Wake(granted);
    }

    private List<Waiter>? GrantLocked()
    {
        List<Waiter>? granted = null;
        while (_waiters.First is { } head && _inUse + head.Value.Bytes <= Capacity)
        {
            _waiters.RemoveFirst();
            TakeLocked(head.Value.Bytes);
            (granted ??= []).Add(head.Value);
        }

        return granted;
    }

    private void TakeLocked(long bytes)
    {
        _inUse += bytes;
        _highWater = Math.Max(_highWater, _inUse);
        NbdServerMetrics.MemoryInUse(bytes);
    }

    // Outside the lock: a woken waiter's continuation runs elsewhere anyway (RunContinuationsAsynchronously).
    private static void Wake(List<Waiter>? granted) => granted?.ForEach(w => w.Granted.TrySetResult());

    private sealed class Waiter(long bytes)
    {
        public long Bytes { get; } = bytes;

        public TaskCompletionSource Granted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
