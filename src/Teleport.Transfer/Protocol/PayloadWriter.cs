using System.Buffers.Binary;

namespace Teleport.Transfer.Protocol;

/// <summary>Writes the fields of one message.</summary>
internal delegate void PayloadWrite<T>(ref PayloadWriter writer, in T message);

/// <summary>Little-endian writer into a payload span (the caller sized the span).</summary>
internal ref struct PayloadWriter
{
    private readonly Span<byte> _data;

    public PayloadWriter(Span<byte> data)
    {
        _data = data;
        Written = 0;
    }

    public int Written { get; private set; }

    /// <summary>Writes <paramref name="message"/>'s fields with <paramref name="write"/>; returns the payload length.</summary>
    public static int Write<T>(Span<byte> payload, in T message, PayloadWrite<T> write)
    {
        var writer = new PayloadWriter(payload);
        write(ref writer, message);
        return writer.Written;
    }

    public Span<byte> Take(int count)
    {
        var slice = _data.Slice(Written, count);
        Written += count;
        return slice;
    }

    public void U8(byte value) => Take(1)[0] = value;

    public void U16(ushort value) => BinaryPrimitives.WriteUInt16LittleEndian(Take(2), value);

    public void U32(uint value) => BinaryPrimitives.WriteUInt32LittleEndian(Take(4), value);

    public void U64(ulong value) => BinaryPrimitives.WriteUInt64LittleEndian(Take(8), value);

    public void Varint(ulong value) => Written += Protocol.Varint.Write(_data[Written..], value);

    public void Bytes(ReadOnlySpan<byte> value) => value.CopyTo(Take(value.Length));

    public void Guid(Guid value) => value.TryWriteBytes(Take(16));
}
