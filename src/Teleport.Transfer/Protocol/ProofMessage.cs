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
        return new ProofMessage(type, PayloadReader.Exactly(payload, type, static (ref PayloadReader r) => r.Bytes(ProtocolConstants.MacSize).ToArray()));
    }

    public int Write(Span<byte> payload) => PayloadWriter.Write(payload, this, static (ref PayloadWriter w, in ProofMessage m) => w.Bytes(m.Mac));
}
