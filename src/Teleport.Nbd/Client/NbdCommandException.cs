using Teleport.Nbd.Protocol;

namespace Teleport.Nbd.Client;

/// <summary>The server answered a request with an error (the message names the request); the connection stays usable.</summary>
public sealed class NbdCommandException(NbdCommand command, NbdError error, string? serverMessage)
    : NbdRefusalException($"NBD {command} failed with {error} ({(uint)error})", serverMessage)
{
    public NbdError Error { get; } = error;
}
