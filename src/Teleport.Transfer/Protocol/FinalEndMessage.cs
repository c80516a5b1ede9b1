namespace Teleport.Transfer.Protocol;

/// <summary>
/// Source -> destination at the end of a final round: the last Data sequence number sent on this connection and the
/// source's volume digest, which the destination compares with its own.
/// </summary>
internal readonly record struct FinalEndMessage(long LastSeq, byte[] Digest) : IControlMessage
{
    public const int Size = 8 + ProtocolConstants.DigestSize;

    public MessageType Type => MessageType.FinalEnd;

    public static FinalEndMessage Parse(ReadOnlySpan<byte> payload)
    {
        var r = new PayloadReader(payload, MessageType.FinalEnd);
        long lastSeq = r.Count64();
        byte[] digest = r.Bytes(ProtocolConstants.DigestSize).ToArray();
        r.End();
        return new FinalEndMessage(lastSeq, digest);
    }

    public int Write(Span<byte> payload)
    {
        var w = new PayloadWriter(payload);
        w.U64((ulong)LastSeq);
        w.Bytes(Digest);
        return w.Written;
    }
}
