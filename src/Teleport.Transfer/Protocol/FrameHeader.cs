using System.Buffers.Binary;

namespace Teleport.Transfer.Protocol;

/// <summary>The 8-byte header in front of every frame: u32 payload length, u8 type, u8 flags, u16 reserved (0).</summary>
internal readonly record struct FrameHeader(int Length, MessageType Type, byte Flags)
{
    /// <summary>Parses and validates a header; bad length (over <paramref name="maxPayload"/>) or reserved bits are protocol errors.</summary>
    public static FrameHeader Read(ReadOnlySpan<byte> header, int maxPayload = ProtocolConstants.MaxPayload)
    {
        if (TryRead(header, maxPayload, out var frameHeader))
            return frameHeader;
        ushort reserved = BinaryPrimitives.ReadUInt16LittleEndian(header[6..]);
        if (reserved != 0)
            throw new TransferException(TransferErrorCode.BadFrame, $"reserved header bits are 0x{reserved:x4}, must be 0");
        throw new TransferException(TransferErrorCode.Oversized,
            $"frame of type 0x{header[4]:x2} announces {BinaryPrimitives.ReadUInt32LittleEndian(header)} payload bytes; the limit is {maxPayload}");
    }

    /// <summary>As <see cref="Read"/>, false instead of an exception (for looking ahead at frames not yet taken).</summary>
    public static bool TryRead(ReadOnlySpan<byte> header, int maxPayload, out FrameHeader frameHeader)
    {
        uint length = BinaryPrimitives.ReadUInt32LittleEndian(header);
        bool valid = BinaryPrimitives.ReadUInt16LittleEndian(header[6..]) == 0 && length <= maxPayload;
        frameHeader = valid ? new FrameHeader((int)length, (MessageType)header[4], header[5]) : default;
        return valid;
    }

    public void Write(Span<byte> header)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(header, (uint)Length);
        header[4] = (byte)Type;
        header[5] = Flags;
        BinaryPrimitives.WriteUInt16LittleEndian(header[6..], 0);
    }
}
