namespace Teleport.Transfer.Protocol;

/// <summary>Destination -> source: every Data frame up to <see cref="Seq"/> is on stable storage (never sent again).</summary>
internal readonly record struct AckMessage(long Seq) : IControlMessage
{
    public const int Size = 8;

    public MessageType Type => MessageType.Ack;

    public static AckMessage Parse(ReadOnlySpan<byte> payload)
    {
        var r = new PayloadReader(payload, MessageType.Ack);
        var m = new AckMessage(r.Count64());
        r.End();
        return m;
    }

    public int Write(Span<byte> payload)
    {
        var w = new PayloadWriter(payload);
        w.U64((ulong)Seq);
        return w.Written;
    }
}
