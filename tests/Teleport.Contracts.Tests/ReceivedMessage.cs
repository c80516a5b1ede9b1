namespace Teleport.Contracts.Tests;

/// <summary>A consumed message with the envelope facts the tests check.</summary>
public sealed record ReceivedMessage(object Message, Uri? DestinationAddress, Guid? MessageId, string? ContentType);
