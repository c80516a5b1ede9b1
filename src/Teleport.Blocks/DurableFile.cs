using System.Runtime.InteropServices;

namespace Teleport.Blocks;

/// <summary>
/// Small files that must survive a crash once something has been told they exist (journal entries, markers, state
/// files, keys): written to a temporary file, fsynced, renamed over the target, and the directory fsynced so the rename
/// itself is on disk. Created with their final mode, so a key is never readable by others, not even for a moment.
/// </summary>
public static partial class DurableFile
{
    /// <summary>Owner read and write only: for keys and anything holding a secret.</summary>
    public const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private const UnixFileMode Default = OwnerOnly | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int FSync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);

    /// <summary>Replaces <paramref name="path"/> with <paramref name="bytes"/> atomically and durably, created with <paramref name="mode"/> (0644 by default; umask applies).</summary>
    public static void Replace(string path, ReadOnlySpan<byte> bytes, UnixFileMode? mode = null)
    {
        string temp = path + ".tmp";
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = mode ?? Default;
        // A temp file left by a crash may have another mode; UnixCreateMode applies only to a file it creates.
        File.Delete(temp);
        using (var file = new FileStream(temp, options))
        {
            file.Write(bytes);
            file.Flush(flushToDisk: true);
        }

        File.Move(temp, path, overwrite: true);
        SyncDirectoryOf(path);
    }

    /// <summary>Removes <paramref name="path"/> (if there) and makes the removal durable.</summary>
    public static void Delete(string path)
    {
        if (!File.Exists(path))
            return;
        File.Delete(path);
        SyncDirectoryOf(path);
    }

    /// <summary>Makes the directory holding <paramref name="path"/> durable: entries created, renamed or removed in it survive a crash.</summary>
    public static void SyncDirectoryOf(string path) => SyncDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);

    /// <summary>fsync of a directory (Linux; elsewhere a no-op). A missing directory is an <see cref="IOException"/>.</summary>
    public static void SyncDirectory(string directory)
    {
        if (!OperatingSystem.IsLinux())
            return;
        int fd = Open(directory, 0); // O_RDONLY: enough to fsync a directory
        if (fd < 0)
            throw new IOException($"cannot open directory '{directory}' to sync it (errno {Marshal.GetLastPInvokeError()})");
        try
        {
            if (FSync(fd) != 0)
                throw new IOException($"cannot sync directory '{directory}' (errno {Marshal.GetLastPInvokeError()})");
        }
        finally
        {
            Close(fd);
        }
    }
}
