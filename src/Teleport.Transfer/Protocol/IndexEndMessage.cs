namespace Teleport.Transfer.Protocol;

/// <summary>Source -> destination after the last IndexBatch: the number of blocks the index stream covered.</summary>
internal readonly record struct IndexEndMessage(long BlockCount) : IControlMessage
{
    public const int Size = 8;

    public MessageType Type => MessageType.IndexEnd;

    public static IndexEndMessage Parse(ReadOnlySpan<byte> payload)
    {
        var r = new PayloadReader(payload, MessageType.IndexEnd);
        var m = new IndexEndMessage(r.Count64());
        r.End();
        return m;
    }

    public int Write(Span<byte> payload)
    {
        var w = new PayloadWriter(payload);
        w.U64((ulong)BlockCount);
        return w.Written;
    }
}
