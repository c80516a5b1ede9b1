using Microsoft.Win32.SafeHandles;

namespace Teleport.Cli.Demo;

/// <summary>A read-only stream over one range of a file: the VM's write window, read as a disk of its own.</summary>
public sealed class FileWindowStream : Stream
{
    private readonly SafeFileHandle _file;
    private readonly long _offset;
    private readonly long _length;
    private long _position;

    public FileWindowStream(string path, long offset, long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        _file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, FileOptions.Asynchronous);
        if (RandomAccess.GetLength(_file) < offset + length)
        {
            _file.Dispose();
            throw new IOException($"'{path}' ends before {offset + length}");
        }

        _offset = offset;
        _length = length;
    }

    public override bool CanRead => true;
    public override bool CanSeek => true;
    public override bool CanWrite => false;
    public override long Length => _length;

    public override long Position
    {
        get => _position;
        set => _position = Math.Clamp(value, 0, _length);
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        int wanted = (int)Math.Min(buffer.Length, _length - _position);
        int read = wanted <= 0 ? 0 : RandomAccess.Read(_file, buffer[..wanted], _offset + _position);
        _position += read;
        return read;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int wanted = (int)Math.Min(buffer.Length, _length - _position);
        int read = wanted <= 0 ? 0 : await RandomAccess.ReadAsync(_file, buffer[..wanted], _offset + _position, cancellationToken).ConfigureAwait(false);
        _position += read;
        return read;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override long Seek(long offset, SeekOrigin origin) =>
        Position = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => _position + offset,
            _ => _length + offset,
        };

    public override void Flush()
    {
    }

    public override void SetLength(long value) => throw new NotSupportedException("the window is read-only");

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("the window is read-only");

    protected override void Dispose(bool disposing)
    {
        if (disposing)
            _file.Dispose();
        base.Dispose(disposing);
    }
}
