using System.Buffers.Binary;

namespace Teleport.Transfer.Protocol;

/// <summary>Reads the fields of one payload.</summary>
internal delegate T PayloadRead<out T>(ref PayloadReader reader);

/// <summary>Bounds-checked little-endian reader over a payload; running past the end is a BadFrame error.</summary>
internal ref struct PayloadReader
{
    private readonly ReadOnlySpan<byte> _data;
    private readonly MessageType _type;
    private int _position;

    public PayloadReader(ReadOnlySpan<byte> data, MessageType type)
    {
        _data = data;
        _type = type;
        _position = 0;
    }

    /// <summary>Reads a whole payload: <paramref name="read"/> takes the fields, and any byte it leaves is a BadFrame.</summary>
    public static T Exactly<T>(ReadOnlySpan<byte> payload, MessageType type, PayloadRead<T> read)
    {
        var reader = new PayloadReader(payload, type);
        var value = read(ref reader);
        reader.End();
        return value;
    }

    public readonly int Remaining => _data.Length - _position;

    public ReadOnlySpan<byte> Bytes(int count)
    {
        if (count < 0 || count > Remaining)
            throw new TransferException(TransferErrorCode.BadFrame,
                $"{_type} payload is truncated: needs {count} more bytes at offset {_position}, has {Remaining}");
        var slice = _data.Slice(_position, count);
        _position += count;
        return slice;
    }

    public ReadOnlySpan<byte> Rest() => Bytes(Remaining);

    public byte U8() => Bytes(1)[0];

    public ushort U16() => BinaryPrimitives.ReadUInt16LittleEndian(Bytes(2));

    public uint U32() => BinaryPrimitives.ReadUInt32LittleEndian(Bytes(4));

    public ulong U64() => BinaryPrimitives.ReadUInt64LittleEndian(Bytes(8));

    /// <summary>A u64 that must fit a non-negative long (block numbers, counts).</summary>
    public long Count64()
    {
        ulong value = U64();
        if (value > long.MaxValue)
            throw new TransferException(TransferErrorCode.OutOfRange, $"{_type}: value {value} is out of range");
        return (long)value;
    }

    public Guid Guid() => new(Bytes(16));

    /// <summary>A LEB128 count that must fit a non-negative long.</summary>
    public long Varint()
    {
        var rest = _data[_position..];
        if (!Protocol.Varint.TryRead(rest, out ulong value, out int length))
            throw new TransferException(TransferErrorCode.BadFrame, $"{_type} payload has a truncated or malformed varint at offset {_position}");
        if (value > long.MaxValue)
            throw new TransferException(TransferErrorCode.OutOfRange, $"{_type}: value {value} is out of range");
        _position += length;
        return (long)value;
    }

    /// <summary>Asserts the payload was consumed exactly (trailing bytes mean a malformed frame).</summary>
    public readonly void End()
    {
        if (Remaining != 0)
            throw new TransferException(TransferErrorCode.BadFrame, $"{_type} payload has {Remaining} unexpected trailing bytes");
    }
}
