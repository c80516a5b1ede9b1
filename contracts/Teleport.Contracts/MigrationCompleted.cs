namespace Teleport.Contracts;

/// <summary>Event from the destination: its volume is complete and proven equal to the source at pause time.</summary>
/// <remarks>Attempt: which attempt of the migration this belongs to (a retry starts the next); workers echo the command's attempt so the saga can ignore late answers of an earlier one.</remarks>
public sealed record MigrationCompleted(
    Guid MigrationId,
    string DestinationStorageId,
    string VolumeId,
    bool Verified,
    long VolumeBytes,
    long BytesOnWire,
    long BlocksFromIndex,
    long BlocksSent,
    int Rounds,
    DateTimeOffset CompletedAt,
    int Attempt = 1);
