using System.IO.Pipelines;

namespace Teleport.Transfer.Protocol;

/// <summary>One end of a connected pair of in-memory streams: what one end writes, the other reads.</summary>
internal sealed class InMemoryDuplex(Stream input, Stream output) : Stream
{
    private readonly Stream _in = input;
    private readonly Stream _out = output;

    public static (Stream A, Stream B) Pair()
    {
        var toA = new Pipe();
        var toB = new Pipe();
        return (new InMemoryDuplex(toA.Reader.AsStream(), toB.Writer.AsStream()), new InMemoryDuplex(toB.Reader.AsStream(), toA.Writer.AsStream()));
    }

    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => _in.Read(buffer, offset, count);

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        _in.ReadAsync(buffer, cancellationToken);

    public override void Write(byte[] buffer, int offset, int count) => _out.Write(buffer, offset, count);

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
        _out.WriteAsync(buffer, cancellationToken);

    public override void Flush() => _out.Flush();

    public override Task FlushAsync(CancellationToken cancellationToken) => _out.FlushAsync(cancellationToken);

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _in.Dispose();
            _out.Dispose();
        }
        base.Dispose(disposing);
    }
}
