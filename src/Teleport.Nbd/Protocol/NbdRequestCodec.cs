using System.Buffers;
using System.Buffers.Binary;

namespace Teleport.Nbd.Protocol;

/// <summary>Framing of transmission request headers (28 bytes, big-endian).</summary>
public static class NbdRequestCodec
{
    /// <summary>
    /// Parses one header from the first 28 bytes of <paramref name="buffer"/>.
    /// Returns false when the magic is wrong: the stream can no longer be trusted.
    /// </summary>
    public static bool TryParse(in ReadOnlySequence<byte> buffer, out NbdRequest request)
    {
        Span<byte> header = stackalloc byte[NbdMagic.RequestHeaderLength];
        buffer.Slice(0, NbdMagic.RequestHeaderLength).CopyTo(header);
        return TryParse(header, out request);
    }

    /// <inheritdoc cref="TryParse(in ReadOnlySequence{byte}, out NbdRequest)"/>
    public static bool TryParse(ReadOnlySpan<byte> header, out NbdRequest request)
    {
        if (header.Length < NbdMagic.RequestHeaderLength || BinaryPrimitives.ReadUInt32BigEndian(header) != NbdMagic.Request)
        {
            request = default;
            return false;
        }

        request = new NbdRequest(
            (NbdCommandFlags)BinaryPrimitives.ReadUInt16BigEndian(header[4..]),
            (NbdCommand)BinaryPrimitives.ReadUInt16BigEndian(header[6..]),
            BinaryPrimitives.ReadUInt64BigEndian(header[8..]),
            BinaryPrimitives.ReadUInt64BigEndian(header[16..]),
            BinaryPrimitives.ReadUInt32BigEndian(header[24..]));
        return true;
    }

    /// <summary>Writes <paramref name="request"/> into the first 28 bytes of <paramref name="destination"/>.</summary>
    public static void Write(Span<byte> destination, in NbdRequest request)
    {
        BinaryPrimitives.WriteUInt32BigEndian(destination, NbdMagic.Request);
        BinaryPrimitives.WriteUInt16BigEndian(destination[4..], (ushort)request.Flags);
        BinaryPrimitives.WriteUInt16BigEndian(destination[6..], (ushort)request.Command);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], request.Cookie);
        BinaryPrimitives.WriteUInt64BigEndian(destination[16..], request.Offset);
        BinaryPrimitives.WriteUInt32BigEndian(destination[24..], request.Length);
    }
}
