namespace Teleport.Transfer.Protocol;

/// <summary>Destination -> source after the Request frames: totals of how the index was resolved.</summary>
internal readonly record struct RequestEndMessage(long Requested, long FromIndex, long FromVolume, long Zero) : IControlMessage
{
    public const int Size = 32;

    public MessageType Type => MessageType.RequestEnd;

    public static RequestEndMessage Parse(ReadOnlySpan<byte> payload)
    {
        var r = new PayloadReader(payload, MessageType.RequestEnd);
        var m = new RequestEndMessage(r.Count64(), r.Count64(), r.Count64(), r.Count64());
        r.End();
        return m;
    }

    public int Write(Span<byte> payload)
    {
        var w = new PayloadWriter(payload);
        w.U64((ulong)Requested);
        w.U64((ulong)FromIndex);
        w.U64((ulong)FromVolume);
        w.U64((ulong)Zero);
        return w.Written;
    }
}
