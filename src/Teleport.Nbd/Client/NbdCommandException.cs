using Teleport.Nbd.Protocol;

namespace Teleport.Nbd.Client;

/// <summary>The server answered a request with an error; the connection stays usable.</summary>
public sealed class NbdCommandException(NbdCommand command, NbdError error, string? serverMessage)
    : NbdException($"NBD {command} failed with {error} ({(uint)error}){(string.IsNullOrEmpty(serverMessage) ? "" : ": " + serverMessage)}")
{
    public NbdCommand Command { get; } = command;

    public NbdError Error { get; } = error;

    /// <summary>Text the server sent with a structured error, if any.</summary>
    public string? ServerMessage { get; } = serverMessage;
}
