using Microsoft.Win32.SafeHandles;
using Teleport.Blocks;

namespace Teleport.Storage.DirtyTracking;

/// <summary>
/// The dirty tracker of a volume that sits on the dm-dirtytrack kernel target (kmod/): the kernel marks every
/// write, discard and write-zeroes, whoever issues it (LIO, a local VM, dd); this class reads and clears the
/// bitmap through the target's character device, /dev/dirtytrack/dm-N.
/// </summary>
/// <remarks>
/// <see cref="TakeDirty"/> is one DIRTYTRACK_IOC_TAKE per window of up to <see cref="WindowBlocks"/> blocks: the
/// kernel exchanges whole words with zero, so a write racing with the take is either returned or stays dirty,
/// and it marks a write again when it completes, so a block read right after being taken is taken again if a
/// write was still in flight. Thread-safe.
/// </remarks>
public sealed unsafe class KernelDirtyTracker : IDirtyTracker, IDisposable
{
    /// <summary>Blocks taken per ioctl: 4096 words of result, 32 KiB.</summary>
    public const int WindowBlocks = 4096 * 64;

    private readonly SafeFileHandle _handle;
    private readonly ulong[] _window;
    private readonly Lock _takeLock = new();

    private KernelDirtyTracker(string devicePath, SafeFileHandle handle, DirtyTrackStatus status, int windowBlocks)
    {
        _window = new ulong[windowBlocks / 64];
        DevicePath = devicePath;
        _handle = handle;
        BlockSize = checked((int)status.BlockSize);
        BlockCount = checked((long)status.BlockCount);
        VolumeBytes = checked((long)status.Sectors * 512);
    }

    /// <summary>The character device, e.g. /dev/dirtytrack/dm-3.</summary>
    public string DevicePath { get; }

    public int BlockSize { get; }

    public long BlockCount { get; }

    /// <summary>Length of the tracked device in bytes, from the target's table.</summary>
    public long VolumeBytes { get; }

    /// <summary>Blocks dirty now, counted by the kernel.</summary>
    public long DirtyCount => (long)Status().DirtyCount;

    /// <summary>Opens the tracker behind a dm-dirtytrack character device such as /dev/dirtytrack/dm-3.</summary>
    public static KernelDirtyTracker Open(string devicePath) => Open(devicePath, WindowBlocks);

    /// <summary>As <see cref="Open(string)"/> with a smaller take window, so tests can cross windows on a small device.</summary>
    internal static KernelDirtyTracker Open(string devicePath, int windowBlocks)
    {
        ArgumentException.ThrowIfNullOrEmpty(devicePath);
        if (windowBlocks < 64 || windowBlocks > WindowBlocks || windowBlocks % 64 != 0)
            throw new ArgumentOutOfRangeException(nameof(windowBlocks), "The take window is a multiple of 64 blocks, at most WindowBlocks.");
        var handle = DirtyTrackNative.OpenDevice(devicePath);
        try
        {
            var status = default(DirtyTrackStatus);
            int err = DirtyTrackNative.Control(handle, DirtyTrackNative.IocStatus, &status);
            if (err != 0)
                throw DirtyTrackNative.Error(err, $"{devicePath} is not a dirtytrack device");
            if (status.BlockSize < BlockSizes.Min || status.BlockSize > BlockSizes.Max ||
                (status.BlockSize & (status.BlockSize - 1)) != 0 || status.BlockCount > long.MaxValue / 2)
                throw new IOException($"{devicePath} reports an impossible geometry: {status.BlockCount} blocks of {status.BlockSize} bytes.");
            return new KernelDirtyTracker(devicePath, handle, status, windowBlocks);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    public void MarkDirty(long firstBlock, long blockCount)
    {
        CheckRange(firstBlock, blockCount);
        var range = new DirtyTrackRange { First = (ulong)firstBlock, Count = (ulong)blockCount };
        int err = DirtyTrackNative.Control(_handle, DirtyTrackNative.IocMark, &range);
        if (err != 0)
            throw DirtyTrackNative.Error(err, $"Cannot mark blocks [{firstBlock}, +{blockCount}) dirty on {DevicePath}");
    }

    public long TakeDirty(long firstBlock, long blockCount, List<BlockRun> taken)
    {
        ArgumentNullException.ThrowIfNull(taken);
        CheckRange(firstBlock, blockCount);
        var runs = new RunAppender(taken);
        int firstNew = taken.Count;
        long total = 0;
        lock (_takeLock)
        {
            fixed (ulong* words = _window)
            {
                for (long start = firstBlock, end = firstBlock + blockCount; start < end;)
                {
                    long count = Math.Min(_window.Length * 64L, end - start);
                    var range = new DirtyTrackRange { First = (ulong)start, Count = (ulong)count, Bits = (ulong)words };
                    int err = DirtyTrackNative.Control(_handle, DirtyTrackNative.IocTake, &range);
                    if (err != 0)
                    {
                        // The kernel put back the failed window's bits; put back the earlier windows too, so a
                        // caller that drops `taken` on the exception loses nothing.
                        PutBack(taken, firstNew);
                        throw DirtyTrackNative.Error(err, $"Cannot take dirty blocks [{start}, +{count}) from {DevicePath}");
                    }
                    if (range.Taken != 0)
                    {
                        for (int i = 0; i < (count + 63) / 64; i++)
                            runs.Add(start + i * 64L, words[i]);
                    }
                    total += (long)range.Taken;
                    start += count;
                }
            }
        }
        return total;
    }

    /// <summary>Clears every bit.</summary>
    public void Clear()
    {
        int err = DirtyTrackNative.Control(_handle, DirtyTrackNative.IocClear, null);
        if (err != 0)
            throw DirtyTrackNative.Error(err, $"Cannot clear {DevicePath}");
    }

    /// <summary>Whether <paramref name="block"/> is dirty now, from a read of the bitmap (diagnostics; clears nothing).</summary>
    public bool IsDirty(long block)
    {
        if ((ulong)block >= (ulong)BlockCount)
            throw new ArgumentOutOfRangeException(nameof(block), $"Block {block} is outside the volume's {BlockCount} blocks.");
        ulong word = 0;
        var bytes = new Span<byte>(&word, sizeof(ulong));
        long n = DirtyTrackNative.Read(_handle, bytes, block / 64 * 8);
        if (n < 0)
            throw DirtyTrackNative.Error((int)-n, $"Cannot read the bitmap of {DevicePath}");
        if (n != 8)
            throw new IOException($"Short read of the bitmap of {DevicePath}: {n} bytes at word {block / 64}.");
        // The kernel's bitmap is native unsigned longs: little-endian words on the machines the module is built for.
        return (word >> (int)(block % 64) & 1) != 0;
    }

    public void Dispose() => _handle.Dispose();

    private void PutBack(List<BlockRun> taken, int firstNew)
    {
        for (int i = firstNew; i < taken.Count; i++)
        {
            var range = new DirtyTrackRange { First = (ulong)taken[i].Start, Count = (ulong)taken[i].Count };
            DirtyTrackNative.Control(_handle, DirtyTrackNative.IocMark, &range);
        }
        taken.RemoveRange(firstNew, taken.Count - firstNew);
    }

    private DirtyTrackStatus Status()
    {
        var status = default(DirtyTrackStatus);
        int err = DirtyTrackNative.Control(_handle, DirtyTrackNative.IocStatus, &status);
        if (err != 0)
            throw DirtyTrackNative.Error(err, $"Cannot read the status of {DevicePath}");
        return status;
    }

    private void CheckRange(long firstBlock, long blockCount)
    {
        if (firstBlock < 0 || blockCount < 0 || firstBlock > BlockCount - blockCount)
            throw new ArgumentOutOfRangeException(nameof(blockCount),
                $"Block range [{firstBlock}, {firstBlock}+{blockCount}) is outside the volume's {BlockCount} blocks.");
    }
}
