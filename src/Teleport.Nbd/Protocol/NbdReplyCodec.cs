using System.Buffers;
using System.Buffers.Binary;

namespace Teleport.Nbd.Protocol;

/// <summary>Framing of simple replies and structured reply chunks.</summary>
public static class NbdReplyCodec
{
    /// <summary>Writes a 16-byte simple reply header.</summary>
    public static void WriteSimple(Span<byte> destination, NbdError error, ulong cookie)
    {
        BinaryPrimitives.WriteUInt32BigEndian(destination, NbdMagic.SimpleReply);
        BinaryPrimitives.WriteUInt32BigEndian(destination[4..], (uint)error);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], cookie);
    }

    /// <summary>Writes a 20-byte structured chunk header.</summary>
    public static void WriteStructured(Span<byte> destination, NbdReplyFlags flags, NbdReplyType type, ulong cookie, uint payloadLength)
    {
        BinaryPrimitives.WriteUInt32BigEndian(destination, NbdMagic.StructuredReply);
        BinaryPrimitives.WriteUInt16BigEndian(destination[4..], (ushort)flags);
        BinaryPrimitives.WriteUInt16BigEndian(destination[6..], (ushort)type);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], cookie);
        BinaryPrimitives.WriteUInt32BigEndian(destination[16..], payloadLength);
    }

    /// <summary>
    /// Parses a reply header at the start of <paramref name="buffer"/>. Returns false when more bytes are
    /// needed; throws <see cref="NbdProtocolException"/> on an unknown magic.
    /// </summary>
    public static bool TryParse(in ReadOnlySequence<byte> buffer, out NbdReplyHeader header, out int headerLength)
    {
        header = default;
        headerLength = 0;
        if (buffer.Length < 4)
        {
            return false;
        }

        Span<byte> bytes = stackalloc byte[NbdMagic.StructuredReplyHeaderLength];
        buffer.Slice(0, 4).CopyTo(bytes);
        uint magic = BinaryPrimitives.ReadUInt32BigEndian(bytes);
        if (magic == NbdMagic.SimpleReply)
        {
            if (buffer.Length < NbdMagic.SimpleReplyHeaderLength)
            {
                return false;
            }

            buffer.Slice(0, NbdMagic.SimpleReplyHeaderLength).CopyTo(bytes);
            header = new NbdReplyHeader(false, (NbdError)BinaryPrimitives.ReadUInt32BigEndian(bytes[4..]), NbdReplyFlags.Done,
                NbdReplyType.None, BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]), 0);
            headerLength = NbdMagic.SimpleReplyHeaderLength;
            return true;
        }

        if (magic == NbdMagic.StructuredReply)
        {
            if (buffer.Length < NbdMagic.StructuredReplyHeaderLength)
            {
                return false;
            }

            buffer.Slice(0, NbdMagic.StructuredReplyHeaderLength).CopyTo(bytes);
            header = new NbdReplyHeader(true, NbdError.None,
                (NbdReplyFlags)BinaryPrimitives.ReadUInt16BigEndian(bytes[4..]),
                (NbdReplyType)BinaryPrimitives.ReadUInt16BigEndian(bytes[6..]),
                BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]),
                BinaryPrimitives.ReadUInt32BigEndian(bytes[16..]));
            headerLength = NbdMagic.StructuredReplyHeaderLength;
            return true;
        }

        throw new NbdProtocolException($"Unknown reply magic 0x{magic:x8}.");
    }
}
