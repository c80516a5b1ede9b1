using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Teleport.Nbd.Exports;

/// <summary>Linux fallocate(2) for hole punching and range zeroing without writing data.</summary>
internal static partial class Fallocate
{
    private const int KeepSize = 0x01;
    private const int PunchHole = 0x02;
    private const int ZeroRange = 0x10;
    private const int EOPNOTSUPP = 95;
    private const int ENOSYS = 38;

    /// <summary>Deallocates the range (reads back as zeroes). False when the file system cannot.</summary>
    public static bool TryPunchHole(SafeFileHandle handle, long offset, long length) =>
        Invoke(handle, PunchHole | KeepSize, offset, length);

    /// <summary>Zeroes the range, keeping it allocated. False when the file system cannot.</summary>
    public static bool TryZeroRange(SafeFileHandle handle, long offset, long length) =>
        Invoke(handle, ZeroRange | KeepSize, offset, length);

    private static bool Invoke(SafeFileHandle handle, int mode, long offset, long length)
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        bool added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            int result = NativeFallocate((int)handle.DangerousGetHandle(), mode, offset, length);
            if (result == 0)
            {
                return true;
            }

            int errno = Marshal.GetLastPInvokeError();
            if (errno is EOPNOTSUPP or ENOSYS)
            {
                return false;
            }

            throw new IOException($"fallocate(mode 0x{mode:x}) failed with errno {errno}", errno);
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    [LibraryImport("libc", EntryPoint = "fallocate", SetLastError = true)]
    private static partial int NativeFallocate(int fd, int mode, long offset, long length);
}
