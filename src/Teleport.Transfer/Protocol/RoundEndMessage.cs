namespace Teleport.Transfer.Protocol;

/// <summary>Source -> destination: copy round <see cref="Round"/> (counted from 1 by the source) is complete.</summary>
internal readonly record struct RoundEndMessage(int Round) : IControlMessage
{
    public const int Size = 4;

    public MessageType Type => MessageType.RoundEnd;

    public static RoundEndMessage Parse(ReadOnlySpan<byte> payload)
    {
        var r = new PayloadReader(payload, MessageType.RoundEnd);
        uint round = r.U32();
        r.End();
        if (round is 0 or > int.MaxValue)
            throw new TransferException(TransferErrorCode.OutOfRange, $"RoundEnd names round {round}");
        return new RoundEndMessage((int)round);
    }

    public int Write(Span<byte> payload)
    {
        var w = new PayloadWriter(payload);
        w.U32((uint)Round);
        return w.Written;
    }
}
