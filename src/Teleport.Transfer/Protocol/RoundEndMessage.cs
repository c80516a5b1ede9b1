namespace Teleport.Transfer.Protocol;

/// <summary>Source -> destination: copy round <see cref="Round"/> (counted from 1 by the source) is complete.</summary>
internal readonly record struct RoundEndMessage(int Round) : IControlMessage
{
    public const int Size = 4;

    public MessageType Type => MessageType.RoundEnd;

    public static RoundEndMessage Parse(ReadOnlySpan<byte> payload)
    {
        uint round = PayloadReader.Exactly(payload, MessageType.RoundEnd, static (ref PayloadReader r) => r.U32());
        if (round is 0 or > int.MaxValue)
            throw new TransferException(TransferErrorCode.OutOfRange, $"RoundEnd names round {round}");
        return new RoundEndMessage((int)round);
    }

    public int Write(Span<byte> payload) => PayloadWriter.Write(payload, this, static (ref PayloadWriter w, in RoundEndMessage m) => w.U32((uint)m.Round));
}
