namespace Teleport.Host.Worker;

/// <summary>A host operation cannot be carried out; the message is the reason HostOperationFailed carries.</summary>
public sealed class HostOperationException(string message, Exception? inner = null) : Exception(message, inner);
