namespace Teleport.Contracts;

/// <summary>Event from the destination: what it rebuilt from its own index and what it asked the source for.</summary>
public sealed record BlocksRequested(
    Guid MigrationId,
    long BlocksFromIndex,
    long BlocksRequestedFromSource,
    DateTimeOffset RequestedAt);
