using Teleport.Nbd.Protocol;

namespace Teleport.Nbd.Client;

/// <summary>The server refused an option during the handshake (e.g. NBD_REP_ERR_UNKNOWN for a missing export).</summary>
public sealed class NbdOptionException(NbdOption option, NbdOptionReplyType reply, string? serverMessage)
    : NbdRefusalException($"NBD option {option} refused with {reply}", serverMessage)
{
    public NbdOption Option { get; } = option;

    public NbdOptionReplyType Reply { get; } = reply;
}
