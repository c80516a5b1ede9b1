using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using Teleport.Blocks;

namespace Teleport.Transfer;

/// <summary>Positional reads and writes on a volume (a file or block device) through one handle.</summary>
internal sealed partial class VolumeFile : IDisposable
{
    private const uint SyncFileRangeWrite = 2;
    private static readonly byte[] Zeros = new byte[1 << 20];
    private readonly SafeFileHandle _handle;

    private VolumeFile(SafeFileHandle handle, string path, bool created)
    {
        _handle = handle;
        Path = path;
        Created = created;
    }

    public string Path { get; }

    /// <summary>The file did not exist and was created (so it reads as zeros everywhere).</summary>
    public bool Created { get; }

    public long Length => RandomAccess.GetLength(_handle);

    /// <summary>Opens the source volume for reading while its writer keeps writing.</summary>
    public static VolumeFile OpenRead(string path) =>
        new(File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete), path, created: false);

    /// <summary>Opens or creates the destination volume and sizes it to <paramref name="size"/>.</summary>
    public static VolumeFile OpenDestination(string path, long size)
    {
        bool created = !File.Exists(path);
        var handle = File.OpenHandle(path, created ? FileMode.CreateNew : FileMode.Open, FileAccess.ReadWrite, FileShare.Read);
        try
        {
            if (IsRegularFile(path))
            {
                if (RandomAccess.GetLength(handle) != size)
                    RandomAccess.SetLength(handle, size);
            }
            else if (RandomAccess.GetLength(handle) < size)
            {
                throw new TransferException(TransferErrorCode.VolumeMismatch,
                    $"destination device {path} holds {RandomAccess.GetLength(handle)} bytes, the source volume has {size}");
            }
        }
        catch
        {
            handle.Dispose();
            throw;
        }

        return new VolumeFile(handle, path, created);
    }

    private static bool IsRegularFile(string path) =>
        (File.GetAttributes(path) & (FileAttributes.Device | FileAttributes.Directory)) == 0 && !path.StartsWith("/dev/", StringComparison.Ordinal);

    /// <summary>Reads exactly <paramref name="buffer"/>.Length bytes at <paramref name="offset"/>.</summary>
    public void Read(Span<byte> buffer, long offset)
    {
        int got = FileReads.ReadAtMost(_handle, buffer, offset);
        if (got < buffer.Length)
            throw new IOException($"{Path}: unexpected end of volume at offset {offset + got}");
    }

    /// <summary>The data extent at or after <paramref name="offset"/> (<see cref="FileReads.FindData"/>).</summary>
    public (long DataStart, long DataEnd) FindData(long offset, long length) => FileReads.FindData(_handle, offset, length);

    public void Write(ReadOnlySpan<byte> data, long offset) => RandomAccess.Write(_handle, data, offset);

    public void WriteZeros(long offset, long length)
    {
        while (length > 0)
        {
            int n = (int)Math.Min(length, Zeros.Length);
            RandomAccess.Write(_handle, Zeros.AsSpan(0, n), offset);
            offset += n;
            length -= n;
        }
    }

    public void Flush() => RandomAccess.FlushToDisk(_handle);

    /// <summary>
    /// Asks the kernel to start writing the file's dirty pages out now, without waiting (Linux; elsewhere nothing): the
    /// disk then works while this process goes on, and the next <see cref="Flush"/> waits only for what is left.
    /// </summary>
    public void StartWriteback()
    {
        if (OperatingSystem.IsLinux())
            _ = SyncFileRange((int)_handle.DangerousGetHandle(), 0, 0, SyncFileRangeWrite); // a hint: a failure shows at the flush
    }

    [LibraryImport("libc", EntryPoint = "sync_file_range", SetLastError = true)]
    private static partial int SyncFileRange(int fd, long offset, long length, uint flags);

    public void Dispose() => _handle.Dispose();
}
