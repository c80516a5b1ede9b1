namespace Teleport.Transfer.Protocol;

/// <summary>Source -> destination after the Fence frames of a final round: how many blocks they listed (a check).</summary>
internal readonly record struct FenceEndMessage(long Blocks) : IControlMessage
{
    public const int Size = 8;

    public MessageType Type => MessageType.FenceEnd;

    public static FenceEndMessage Parse(ReadOnlySpan<byte> payload) =>
        PayloadReader.Exactly(payload, MessageType.FenceEnd, static (ref PayloadReader r) => new FenceEndMessage(r.Count64()));

    public int Write(Span<byte> payload) =>
        PayloadWriter.Write(payload, this, static (ref PayloadWriter w, in FenceEndMessage m) => w.U64((ulong)m.Blocks));
}
