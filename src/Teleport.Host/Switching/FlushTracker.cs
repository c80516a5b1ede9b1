namespace Teleport.Host.Switching;

/// <summary>
/// Whether every write the upstream acknowledged is covered by a flush that completed since: QEMU's 'stop' flushes the
/// disk, so a switch right after it need not flush the old upstream again (one round trip and an fsync less inside the
/// pause). Writes with FUA are durable when acknowledged and are not counted. Conservative: a write that completes while a
/// flush is under way counts as not flushed.
/// </summary>
internal sealed class FlushTracker
{
    private long _written;
    private long _flushedThrough;

    /// <summary>True when no acknowledged write is waiting for a flush.</summary>
    public bool Clean => Interlocked.Read(ref _flushedThrough) == Interlocked.Read(ref _written);

    /// <summary>A write (trim, write-zeroes) without FUA was acknowledged.</summary>
    public void Written() => Interlocked.Increment(ref _written);

    /// <summary>Call before a flush is sent; pass the value to <see cref="Flushed"/> once it succeeded.</summary>
    public long Starting() => Interlocked.Read(ref _written);

    /// <summary>A flush that started at <paramref name="mark"/> succeeded: every write acknowledged before it is durable.</summary>
    public void Flushed(long mark)
    {
        long seen = Interlocked.Read(ref _flushedThrough);
        while (mark > seen)
        {
            long found = Interlocked.CompareExchange(ref _flushedThrough, mark, seen);
            if (found == seen)
                return;
            seen = found;
        }
    }
}
