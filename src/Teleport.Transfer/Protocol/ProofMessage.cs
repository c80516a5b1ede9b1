namespace Teleport.Transfer.Protocol;

/// <summary>
/// SourceProof or DestinationProof: the sender's HMAC over the handshake transcript (<see cref="Handshake.Proof"/>).
/// </summary>
internal readonly record struct ProofMessage(MessageType Type, byte[] Mac) : IControlMessage
{
    public const int Size = ProtocolConstants.MacSize;

    public static ProofMessage Parse(ReadOnlySpan<byte> payload, MessageType type)
    {
        if (type is not (MessageType.SourceProof or MessageType.DestinationProof))
            throw new ArgumentOutOfRangeException(nameof(type), type, "not a proof frame");
        var r = new PayloadReader(payload, type);
        byte[] mac = r.Bytes(ProtocolConstants.MacSize).ToArray();
        r.End();
        return new ProofMessage(type, mac);
    }

    public int Write(Span<byte> payload)
    {
        var w = new PayloadWriter(payload);
        w.Bytes(Mac);
        return w.Written;
    }
}
