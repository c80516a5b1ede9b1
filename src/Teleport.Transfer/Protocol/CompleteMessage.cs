namespace Teleport.Transfer.Protocol;

/// <summary>Destination -> source: the volume is complete, flushed and verified; its digest.</summary>
internal readonly record struct CompleteMessage(byte[] Digest) : IControlMessage
{
    public const int Size = ProtocolConstants.DigestSize;

    public MessageType Type => MessageType.Complete;

    public static CompleteMessage Parse(ReadOnlySpan<byte> payload) => PayloadReader.Exactly(payload, MessageType.Complete,
        static (ref PayloadReader r) => new CompleteMessage(r.Bytes(ProtocolConstants.DigestSize).ToArray()));

    public int Write(Span<byte> payload) => PayloadWriter.Write(payload, this, static (ref PayloadWriter w, in CompleteMessage m) => w.Bytes(m.Digest));
}
