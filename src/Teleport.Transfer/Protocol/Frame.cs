namespace Teleport.Transfer.Protocol;

/// <summary>One received frame. <see cref="Payload"/> is valid until the next read from the same <see cref="FrameReader"/>.</summary>
internal readonly record struct Frame(MessageType Type, byte Flags, ReadOnlyMemory<byte> Payload)
{
    public int WireBytes => ProtocolConstants.HeaderSize + Payload.Length;
}
