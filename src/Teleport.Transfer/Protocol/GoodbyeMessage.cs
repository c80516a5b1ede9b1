namespace Teleport.Transfer.Protocol;

/// <summary>Source -> destination after Complete: the source saw the digests agree; the session ends. No payload.</summary>
internal readonly record struct GoodbyeMessage : IControlMessage
{
    public const int Size = 0;

    public MessageType Type => MessageType.Goodbye;

    public static GoodbyeMessage Parse(ReadOnlySpan<byte> payload)
    {
        new PayloadReader(payload, MessageType.Goodbye).End();
        return default;
    }

    public int Write(Span<byte> payload) => 0;
}
