namespace Teleport.Transfer.Protocol;

/// <summary>Destination -> source: the chosen version and the destination's nonce.</summary>
internal readonly record struct ChallengeMessage(ushort Version, byte[] Nonce)
{
    public const int Size = 2 + ProtocolConstants.NonceSize;

    public static ChallengeMessage Parse(ReadOnlySpan<byte> payload) => PayloadReader.Exactly(payload, MessageType.Challenge,
        static (ref PayloadReader r) => new ChallengeMessage(r.U16(), r.Bytes(ProtocolConstants.NonceSize).ToArray()));

    public int Write(Span<byte> payload) => PayloadWriter.Write(payload, this, static (ref PayloadWriter w, in ChallengeMessage m) =>
    {
        w.U16(m.Version);
        w.Bytes(m.Nonce);
    });
}
