using Microsoft.Win32.SafeHandles;

namespace Teleport.Blocks;

/// <summary>
/// Positional reads of a volume or index file that loop until the span is full, because one read(2) may return
/// less than asked (block devices, signals, large spans).
/// </summary>
public static class FileReads
{
    /// <summary>Reads into <paramref name="buffer"/> at <paramref name="offset"/> until it is full or the file
    /// ends; returns the bytes read (less than the span only at the end of the file).</summary>
    public static int ReadAtMost(SafeFileHandle handle, Span<byte> buffer, long offset)
    {
        int got = 0;
        while (got < buffer.Length)
        {
            int n = RandomAccess.Read(handle, buffer[got..], offset + got);
            if (n == 0)
                break;
            got += n;
        }
        return got;
    }

    /// <summary>Reads exactly <paramref name="buffer"/>.Length bytes at <paramref name="offset"/>.</summary>
    /// <exception cref="EndOfStreamException">The file ends first.</exception>
    public static void ReadExactly(SafeFileHandle handle, Span<byte> buffer, long offset)
    {
        int got = ReadAtMost(handle, buffer, offset);
        if (got < buffer.Length)
            throw new EndOfStreamException($"Unexpected end of file at offset {offset + got} ({buffer.Length - got} bytes short).");
    }

    /// <summary>
    /// The data extent at or after <paramref name="position"/> of a file <paramref name="length"/> bytes long:
    /// [DataStart, DataEnd); the bytes from position to DataStart are a hole (read as zeros). Where the file system
    /// or device cannot report holes (SEEK_DATA), everything is data.
    /// </summary>
    public static (long DataStart, long DataEnd) FindData(SafeFileHandle handle, long position, long length) =>
        NativeFile.FindData(handle, position, length);
}
