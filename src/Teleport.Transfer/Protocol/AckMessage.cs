namespace Teleport.Transfer.Protocol;

/// <summary>Destination -> source: every Data frame up to <see cref="Seq"/> is on stable storage (never sent again).</summary>
internal readonly record struct AckMessage(long Seq) : IControlMessage
{
    public const int Size = 8;

    public MessageType Type => MessageType.Ack;

    public static AckMessage Parse(ReadOnlySpan<byte> payload) =>
        PayloadReader.Exactly(payload, MessageType.Ack, static (ref PayloadReader r) => new AckMessage(r.Count64()));

    public int Write(Span<byte> payload) => PayloadWriter.Write(payload, this, static (ref PayloadWriter w, in AckMessage m) => w.U64((ulong)m.Seq));
}
