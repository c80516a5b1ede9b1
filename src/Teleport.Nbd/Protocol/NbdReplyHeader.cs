namespace Teleport.Nbd.Protocol;

/// <summary>
/// A reply header as read by a client: a simple reply (error + cookie) or one structured chunk
/// (flags, type, cookie, payload length).
/// </summary>
public readonly record struct NbdReplyHeader(bool IsStructured, NbdError Error, NbdReplyFlags Flags, NbdReplyType Type, ulong Cookie, uint Length)
{
    /// <summary>True when no more chunks follow for this cookie.</summary>
    public bool IsFinal => !IsStructured || (Flags & NbdReplyFlags.Done) != 0;
}
