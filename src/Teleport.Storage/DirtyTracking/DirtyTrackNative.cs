using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Teleport.Storage.DirtyTracking;

/// <summary>The system calls on /dev/dirtytrack/dm-N: open, pread and the ioctls of kmod/dm-dirtytrack.h.</summary>
internal static unsafe partial class DirtyTrackNative
{
    // _IOC(dir, type, nr, size) = dir << 30 | size << 16 | type << 8 | nr, with type 0xd7 and 32-byte structs.
    public const uint IocStatus = 0x8020d700; // _IOR(0xd7, 0, struct dirtytrack_status)
    public const uint IocTake = 0xc020d701;   // _IOWR(0xd7, 1, struct dirtytrack_range)
    public const uint IocMark = 0x4020d702;   // _IOW(0xd7, 2, struct dirtytrack_range)
    public const uint IocClear = 0x0000d703;  // _IO(0xd7, 3)

    public const int Enodev = 19;
    private const int ORdWr = 2, OCloExec = 0x80000;

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int Ioctl(int fd, nuint request, void* arg);

    [LibraryImport("libc", EntryPoint = "pread", SetLastError = true)]
    private static partial nint PRead(int fd, void* buffer, nuint count, long offset);

    /// <summary>Opens a tracker device read-write; the handle closes it.</summary>
    public static SafeFileHandle OpenDevice(string path)
    {
        int fd = Open(path, ORdWr | OCloExec);
        if (fd < 0)
            throw Error(Marshal.GetLastPInvokeError(), $"Cannot open the dirty-tracking device {path}");
        return new SafeFileHandle(fd, ownsHandle: true);
    }

    /// <summary>Issues an ioctl; returns 0 or the errno it failed with.</summary>
    public static int Control(SafeFileHandle handle, uint request, void* arg)
    {
        bool added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            return Ioctl((int)handle.DangerousGetHandle(), request, arg) < 0 ? Marshal.GetLastPInvokeError() : 0;
        }
        finally
        {
            if (added)
                handle.DangerousRelease();
        }
    }

    /// <summary>Reads bitmap bytes at <paramref name="offset"/>; returns the count read or -errno.</summary>
    public static long Read(SafeFileHandle handle, Span<byte> buffer, long offset)
    {
        bool added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            fixed (byte* p = buffer)
            {
                nint n = PRead((int)handle.DangerousGetHandle(), p, (nuint)buffer.Length, offset);
                return n < 0 ? -Marshal.GetLastPInvokeError() : n;
            }
        }
        finally
        {
            if (added)
                handle.DangerousRelease();
        }
    }

    public static IOException Error(int errno, string what) => errno == Enodev
        ? new IOException($"{what}: the dirtytrack target was removed or replaced by another target (ENODEV).")
        : new IOException($"{what}: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno}).");
}
