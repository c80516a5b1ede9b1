using System.Runtime.InteropServices;

namespace Teleport.Blocks;

/// <summary>One positional read of a batch: <see cref="Length"/> bytes of file descriptor <see cref="Fd"/> at
/// <see cref="Offset"/> into native memory at <see cref="Buffer"/>.</summary>
internal readonly record struct ReadOp(int Fd, nint Buffer, int Length, long Offset);

/// <summary>How the batched lookup reads: io_uring where the kernel gives it, else one <c>pread</c> per read.</summary>
internal enum BatchReadMode
{
    Uring,
    Pread,
}

/// <summary>
/// Many positional reads at once. <see cref="Read"/> returns only once every read has completed: each result is the
/// bytes read (possibly fewer than asked) or a negative errno, and no buffer is written after it returns. Not
/// thread-safe: one caller at a time.
/// </summary>
internal abstract class BatchReads : IDisposable
{
    /// <summary>The most reads one call takes.</summary>
    public abstract int Capacity { get; }

    public abstract BatchReadMode Mode { get; }

    public void Read(ReadOnlySpan<ReadOp> ops, Span<int> results)
    {
        if (ops.Length > Capacity || results.Length < ops.Length)
            throw new ArgumentException($"At most {Capacity} reads at once, with a result each; got {ops.Length} reads, {results.Length} results.", nameof(ops));
        if (ops.Length > 0)
            ReadAll(ops, results);
    }

    protected abstract void ReadAll(ReadOnlySpan<ReadOp> ops, Span<int> results);

    /// <summary>True after a failure that may have left reads in flight: their buffers must stay allocated.</summary>
    public virtual bool Broken => false;

    public virtual void Dispose()
    {
    }

    /// <summary>
    /// Readers of <paramref name="capacity"/> reads in <paramref name="mode"/>, or pread when io_uring cannot be set up
    /// here (no io_uring in the kernel, <c>kernel.io_uring_disabled</c>, a seccomp filter, a kernel older than 5.7):
    /// the first setup's failure decides for the process, and <see cref="UringUnavailable"/> says why.
    /// </summary>
    public static BatchReads Create(BatchReadMode mode, int capacity)
    {
        if (mode == BatchReadMode.Uring && UringUnavailable is null)
        {
            var ring = UringReads.TryCreate(capacity, out string? reason);
            if (ring is not null)
                return ring;
            UringUnavailable = reason;
        }
        return new PositionalReads(capacity);
    }

    /// <summary>The mode batched lookups use by default: io_uring on Linux unless it was found unavailable.</summary>
    public static BatchReadMode DefaultMode => OperatingSystem.IsLinux() && UringUnavailable is null ? BatchReadMode.Uring : BatchReadMode.Pread;

    /// <summary>Why io_uring is not used (set once its setup failed), or null.</summary>
    public static string? UringUnavailable { get; private set; } = OperatingSystem.IsLinux() ? null : "not Linux";
}

/// <summary>The fallback: one <c>pread</c> per read, in order.</summary>
internal sealed unsafe partial class PositionalReads(int capacity) : BatchReads
{
    public override int Capacity => capacity;

    public override BatchReadMode Mode => BatchReadMode.Pread;

    protected override void ReadAll(ReadOnlySpan<ReadOp> ops, Span<int> results)
    {
        for (int i = 0; i < ops.Length; i++)
        {
            var op = ops[i];
            long got;
            do
                got = PRead(op.Fd, (void*)op.Buffer, (nuint)op.Length, op.Offset);
            while (got < 0 && Marshal.GetLastPInvokeError() == Errno.Interrupted);
            results[i] = got < 0 ? -Marshal.GetLastPInvokeError() : (int)got;
        }
    }

    [LibraryImport("libc", EntryPoint = "pread", SetLastError = true)]
    private static partial nint PRead(int fd, void* buffer, nuint count, long offset);
}

internal static class Errno
{
    public const int Interrupted = 4, Again = 11, Busy = 16;
}
