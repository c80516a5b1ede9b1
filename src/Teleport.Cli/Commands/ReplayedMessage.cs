namespace Teleport.Cli.Commands;

/// <summary>One faulted message that was (or, on a dry run, would be) moved back to the queue it failed on.</summary>
public sealed record ReplayedMessage(string? MessageId, string MessageType, string To, string? FaultMessage, string? FaultedAt, bool Moved);
