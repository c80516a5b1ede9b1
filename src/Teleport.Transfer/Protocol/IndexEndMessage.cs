namespace Teleport.Transfer.Protocol;

/// <summary>Source -> destination after the last IndexBatch: the number of blocks the index stream covered.</summary>
internal readonly record struct IndexEndMessage(long BlockCount) : IControlMessage
{
    public const int Size = 8;

    public MessageType Type => MessageType.IndexEnd;

    public static IndexEndMessage Parse(ReadOnlySpan<byte> payload) =>
        PayloadReader.Exactly(payload, MessageType.IndexEnd, static (ref PayloadReader r) => new IndexEndMessage(r.Count64()));

    public int Write(Span<byte> payload) =>
        PayloadWriter.Write(payload, this, static (ref PayloadWriter w, in IndexEndMessage m) => w.U64((ulong)m.BlockCount));
}
