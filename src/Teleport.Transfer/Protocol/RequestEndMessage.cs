namespace Teleport.Transfer.Protocol;

/// <summary>Destination -> source after the Request frames: totals of how the index was resolved.</summary>
internal readonly record struct RequestEndMessage(long Requested, long FromIndex, long FromVolume, long Zero) : IControlMessage
{
    public const int Size = 32;

    public MessageType Type => MessageType.RequestEnd;

    public static RequestEndMessage Parse(ReadOnlySpan<byte> payload) => PayloadReader.Exactly(payload, MessageType.RequestEnd,
        static (ref PayloadReader r) => new RequestEndMessage(r.Count64(), r.Count64(), r.Count64(), r.Count64()));

    public int Write(Span<byte> payload) => PayloadWriter.Write(payload, this, static (ref PayloadWriter w, in RequestEndMessage m) =>
    {
        w.U64((ulong)m.Requested);
        w.U64((ulong)m.FromIndex);
        w.U64((ulong)m.FromVolume);
        w.U64((ulong)m.Zero);
    });
}
