namespace Teleport.Contracts;

/// <summary>Event from the destination: what it rebuilt from its own index and what it asked the source for.</summary>
/// <remarks>Attempt: which attempt of the migration this belongs to (a retry starts the next); workers echo the command's attempt so the saga can ignore late answers of an earlier one.</remarks>
public sealed record BlocksRequested(
    Guid MigrationId,
    long BlocksFromIndex,
    long BlocksRequestedFromSource,
    DateTimeOffset RequestedAt,
    int Attempt = 1);
