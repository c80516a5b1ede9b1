namespace Teleport.Transfer.Protocol;

/// <summary>
/// Destination -> source after authentication: where the destination stands, so the source continues there.
/// <see cref="IndexCursor"/>: index entries processed; <see cref="DurableSeq"/>: highest Data sequence number whose
/// blocks are flushed (everything up to it is never sent again); <see cref="Digest"/>: set when already complete.
/// </summary>
internal readonly record struct ResumeMessage(DestinationPhase Phase, long IndexCursor, long DurableSeq, byte[] Digest) : IControlMessage
{
    public const int Size = 1 + 8 + 8 + ProtocolConstants.DigestSize;

    public MessageType Type => MessageType.Resume;

    public static ResumeMessage Parse(ReadOnlySpan<byte> payload)
    {
        var r = new PayloadReader(payload, MessageType.Resume);
        byte phase = r.U8();
        if (phase > (byte)DestinationPhase.Completed)
            throw new TransferException(TransferErrorCode.OutOfRange, $"Resume names unknown phase {phase}");
        long cursor = r.Count64();
        long seq = r.Count64();
        byte[] digest = r.Bytes(ProtocolConstants.DigestSize).ToArray();
        r.End();
        return new ResumeMessage((DestinationPhase)phase, cursor, seq, digest);
    }

    public int Write(Span<byte> payload)
    {
        var w = new PayloadWriter(payload);
        w.U8((byte)Phase);
        w.U64((ulong)IndexCursor);
        w.U64((ulong)DurableSeq);
        w.Bytes(Digest);
        return w.Written;
    }
}
