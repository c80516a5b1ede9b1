namespace Teleport.Transfer.Protocol;

/// <summary>Destination -> source: the volume is complete, flushed and verified; its digest.</summary>
internal readonly record struct CompleteMessage(byte[] Digest) : IControlMessage
{
    public const int Size = ProtocolConstants.DigestSize;

    public MessageType Type => MessageType.Complete;

    public static CompleteMessage Parse(ReadOnlySpan<byte> payload)
    {
        var r = new PayloadReader(payload, MessageType.Complete);
        byte[] digest = r.Bytes(ProtocolConstants.DigestSize).ToArray();
        r.End();
        return new CompleteMessage(digest);
    }

    public int Write(Span<byte> payload)
    {
        var w = new PayloadWriter(payload);
        w.Bytes(Digest);
        return w.Written;
    }
}
