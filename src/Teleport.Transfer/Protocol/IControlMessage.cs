namespace Teleport.Transfer.Protocol;

/// <summary>
/// A small fixed-size frame (handshake proofs, acknowledgements, phase ends): its codec writes it into a span the
/// connection provides (<see cref="TransferConnection.SendAsync{T}"/>), so sending one allocates nothing.
/// </summary>
internal interface IControlMessage
{
    /// <summary>Largest payload of any control message, the size of the span they are written into.</summary>
    const int MaxSize = 128;

    MessageType Type { get; }

    int Write(Span<byte> payload);
}
