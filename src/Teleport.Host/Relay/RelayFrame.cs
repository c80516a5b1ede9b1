using System.Buffers.Binary;

namespace Teleport.Host.Relay;

/// <summary>
/// The relay's frames on the WAN link: a 9-byte header (type, then a 64-bit little-endian value) and, for data, that
/// many payload bytes. Data's value is its length (at most <see cref="MaxPayload"/>); an ack's, the bytes received so far
/// on this channel; an end's, the position the sender's stream ended at.
/// </summary>
internal static class RelayFrame
{
    public const int HeaderSize = 9;

    /// <summary>The largest data payload: a longer frame is a protocol error, never an allocation.</summary>
    public const int MaxPayload = 64 * 1024;

    public const byte Data = 1;
    public const byte Ack = 2;
    public const byte End = 3;

    public static void Write(Span<byte> header, byte type, long value)
    {
        header[0] = type;
        BinaryPrimitives.WriteInt64LittleEndian(header[1..], value);
    }

    /// <exception cref="RelayProtocolException">An unknown type, or data longer than <see cref="MaxPayload"/> or empty.</exception>
    public static (byte Type, long Value) Read(ReadOnlySpan<byte> header)
    {
        byte type = header[0];
        long value = BinaryPrimitives.ReadInt64LittleEndian(header[1..]);
        return type switch
        {
            Data when value is <= 0 or > MaxPayload => throw new RelayProtocolException($"a data frame of {value} bytes (1-{MaxPayload} allowed)"),
            Data or Ack or End when value >= 0 => (type, value),
            Data or Ack or End => throw new RelayProtocolException($"a frame with a negative value ({value})"),
            _ => throw new RelayProtocolException($"an unknown frame type {type}"),
        };
    }
}

/// <summary>The peer broke the relay's protocol: the channel ends (its QEMU socket closed), it does not wait to resume.</summary>
internal sealed class RelayProtocolException(string message) : IOException(message);
