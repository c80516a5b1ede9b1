namespace Teleport.Transfer.Protocol;

/// <summary>
/// Source -> destination at the end of a final round: the last Data sequence number sent on this connection and the
/// source's volume digest, which the destination compares with its own.
/// </summary>
internal readonly record struct FinalEndMessage(long LastSeq, byte[] Digest) : IControlMessage
{
    public const int Size = 8 + ProtocolConstants.DigestSize;

    public MessageType Type => MessageType.FinalEnd;

    public static FinalEndMessage Parse(ReadOnlySpan<byte> payload) => PayloadReader.Exactly(payload, MessageType.FinalEnd,
        static (ref PayloadReader r) => new FinalEndMessage(r.Count64(), r.Bytes(ProtocolConstants.DigestSize).ToArray()));

    public int Write(Span<byte> payload) => PayloadWriter.Write(payload, this, static (ref PayloadWriter w, in FinalEndMessage m) =>
    {
        w.U64((ulong)m.LastSeq);
        w.Bytes(m.Digest);
    });
}
