using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Teleport.Blocks;

/// <summary>The few Linux calls .NET does not expose: lseek with SEEK_DATA/SEEK_HOLE/SEEK_END, statx, madvise,
/// posix_fadvise and an O_DIRECT reopen.</summary>
internal static unsafe partial class NativeFile
{
    private const int SeekEnd = 2, SeekData = 3, SeekHole = 4;
    private const int MadvRandom = 1, MadvSequential = 2, MadvHugePage = 14, MadvDontNeed = 4, FadvDontNeed = 4;
    private const int Enxio = 6;
    private const int AtFdCwd = -100;
    private const uint StatxBasicStats = 0x7ff;
    private const int StatxBufferSize = 256;

    [LibraryImport("libc", EntryPoint = "lseek", SetLastError = true)]
    private static partial long LSeek(int fd, long offset, int whence);

    [LibraryImport("libc", EntryPoint = "madvise", SetLastError = true)]
    private static partial int MAdvise(void* address, nuint length, int advice);

    [LibraryImport("libc", EntryPoint = "posix_fadvise")]
    private static partial int FAdvise(int fd, long offset, long length, int advice);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Statx(int dirFd, string path, int flags, uint mask, Span<byte> buffer);

    /// <summary>
    /// The data extent at or after <paramref name="position"/>: [dataStart, dataEnd). Bytes from position to
    /// dataStart are a hole. Where the file system cannot report holes, everything is data.
    /// </summary>
    public static (long DataStart, long DataEnd) FindData(SafeFileHandle handle, long position, long length)
    {
        if (!OperatingSystem.IsLinux())
            return (position, length);
        bool added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            int fd = (int)handle.DangerousGetHandle();
            long dataStart = LSeek(fd, position, SeekData);
            if (dataStart < 0)
                return Marshal.GetLastPInvokeError() == Enxio ? (length, length) : (position, length);
            long dataEnd = LSeek(fd, dataStart, SeekHole);
            return (Math.Min(dataStart, length), dataEnd < 0 ? length : Math.Min(dataEnd, length));
        }
        finally
        {
            if (added)
                handle.DangerousRelease();
        }
    }

    /// <summary>
    /// Asks for transparent huge pages over [<paramref name="address"/>, +<paramref name="length"/>) (page-aligned,
    /// not yet touched). Only advice: where the kernel has none to give, 4 KiB pages serve as before.
    /// </summary>
    public static void AdviseHugePages(void* address, nuint length)
    {
        if (OperatingSystem.IsLinux())
            _ = MAdvise(address, length, MadvHugePage);
    }

    /// <summary>
    /// How a mapped file's pages will be read, for the kernel's read-ahead on a fault: <paramref name="inOrder"/>
    /// false, one page where it was touched and no read-around (the mapping's entries are read at random, and a
    /// device's read-ahead, 8 MiB here, per faulted entry thrashes a table that is not resident); true, read ahead
    /// (a pass over the whole table). Only advice: the kernel may ignore it.
    /// </summary>
    public static void AdviseReads(void* address, nuint length, bool inOrder)
    {
        if (OperatingSystem.IsLinux())
            _ = MAdvise(address, length, inOrder ? MadvSequential : MadvRandom);
    }

    /// <summary>
    /// Drops the pages of a shared file mapping from this process's page tables (their dirty state goes to the page
    /// cache; nothing is lost), so <see cref="DropCache"/> can then evict them.
    /// </summary>
    public static void Unmap(void* address, nuint length)
    {
        if (OperatingSystem.IsLinux())
            _ = MAdvise(address, length, MadvDontNeed);
    }

    /// <summary>
    /// Tells the kernel this file's cached pages will not be read again (the saved index once streamed into its
    /// working table), so they go before pages still in use. Only advice: dirty pages stay until written back.
    /// </summary>
    public static void DropCache(SafeFileHandle handle)
    {
        // No reference taken: the caller holds the handle open across the call.
        if (OperatingSystem.IsLinux())
            _ = FAdvise((int)handle.DangerousGetHandle(), 0, 0, FadvDontNeed);
    }

    /// <summary>
    /// A second, read-only descriptor on <paramref name="handle"/>'s file that bypasses the page cache (O_DIRECT: reads
    /// of whole, aligned blocks into aligned buffers), reopened through /proc so it works on an unlinked file; null
    /// where that is refused (no /proc, a file system without direct I/O, not Linux).
    /// </summary>
    public static SafeFileHandle? OpenDirect(SafeFileHandle handle)
    {
        if (!OperatingSystem.IsLinux())
            return null;
        // O_DIRECT is 0x4000 on x86-64 and 0x10000 on arm64; O_CLOEXEC is 0x80000 on both.
        int direct = RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? 0x10000 : 0x4000;
        int fd = Open($"/proc/self/fd/{handle.DangerousGetHandle()}", direct | 0x80000);
        return fd < 0 ? null : new SafeFileHandle(fd, ownsHandle: true);
    }

    /// <summary>Size in bytes of a regular file or a block device (whose st_size is 0).</summary>
    public static long GetLength(SafeFileHandle handle)
    {
        if (!OperatingSystem.IsLinux())
            return RandomAccess.GetLength(handle);
        bool added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            long end = LSeek((int)handle.DangerousGetHandle(), 0, SeekEnd);
            if (end < 0)
                throw new IOException($"Cannot find the size of the image (errno {Marshal.GetLastPInvokeError()}).");
            return end;
        }
        finally
        {
            if (added)
                handle.DangerousRelease();
        }
    }

    /// <summary>Identity of a file for change detection; null when it does not exist.</summary>
    public static ImageIdentity? Stat(string path)
    {
        if (!OperatingSystem.IsLinux())
        {
            var info = new FileInfo(path);
            return info.Exists
                ? new ImageIdentity(0, 0, info.Length, info.LastWriteTimeUtc.Ticks * 100, info.LastWriteTimeUtc.Ticks * 100, false)
                : null;
        }
        Span<byte> buffer = stackalloc byte[StatxBufferSize];
        if (Statx(AtFdCwd, path, 0, StatxBasicStats, buffer) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno is 2 or 20) // ENOENT, ENOTDIR
                return null;
            throw new IOException($"Cannot stat image '{path}' (errno {errno}).");
        }
        // struct statx offsets (stable kernel ABI): mode@28, ino@32, size@40, ctime@96, mtime@112, dev major/minor@136/140.
        ushort mode = BinaryPrimitives.ReadUInt16LittleEndian(buffer[28..]);
        ulong inode = BinaryPrimitives.ReadUInt64LittleEndian(buffer[32..]);
        long size = BinaryPrimitives.ReadInt64LittleEndian(buffer[40..]);
        long ctime = Nanoseconds(buffer[96..]);
        long mtime = Nanoseconds(buffer[112..]);
        ulong device = ((ulong)BinaryPrimitives.ReadUInt32LittleEndian(buffer[136..]) << 32)
            | BinaryPrimitives.ReadUInt32LittleEndian(buffer[140..]);
        bool isBlockDevice = (mode & 0xF000) == 0x6000;
        return new ImageIdentity(device, inode, size, mtime, ctime, isBlockDevice);
    }

    private static long Nanoseconds(ReadOnlySpan<byte> timestamp) =>
        BinaryPrimitives.ReadInt64LittleEndian(timestamp) * 1_000_000_000L + BinaryPrimitives.ReadUInt32LittleEndian(timestamp[8..]);
}
