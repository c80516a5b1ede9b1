namespace Teleport.EndToEnd.Tests.Fixtures;

/// <summary>An event of a migration and when the watch received it.</summary>
public sealed record WatchedEvent(Guid MigrationId, object Message, DateTimeOffset ReceivedAt);
