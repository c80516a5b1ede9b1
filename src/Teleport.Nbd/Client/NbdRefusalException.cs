using Teleport.Nbd.Protocol;

namespace Teleport.Nbd.Client;

/// <summary>The server refused what the client asked for, an option or a request, maybe with a text saying why.</summary>
public abstract class NbdRefusalException(string refusal, string? serverMessage)
    : NbdException(string.IsNullOrEmpty(serverMessage) ? refusal : $"{refusal}: {serverMessage}")
{
    /// <summary>Text the server sent with its error, if any.</summary>
    public string? ServerMessage { get; } = serverMessage;
}
