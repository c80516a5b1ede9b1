namespace Teleport.Transfer.Protocol;

/// <summary>Destination -> source: the chosen version and the destination's nonce.</summary>
internal readonly record struct ChallengeMessage(ushort Version, byte[] Nonce)
{
    public const int Size = 2 + ProtocolConstants.NonceSize;

    public static ChallengeMessage Parse(ReadOnlySpan<byte> payload)
    {
        var r = new PayloadReader(payload, MessageType.Challenge);
        ushort version = r.U16();
        byte[] nonce = r.Bytes(ProtocolConstants.NonceSize).ToArray();
        r.End();
        return new ChallengeMessage(version, nonce);
    }

    public int Write(Span<byte> payload)
    {
        var w = new PayloadWriter(payload);
        w.U16(Version);
        w.Bytes(Nonce);
        return w.Written;
    }
}
