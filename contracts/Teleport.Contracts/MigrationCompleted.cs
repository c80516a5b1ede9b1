namespace Teleport.Contracts;

/// <summary>Event from the destination: its volume is complete and proven equal to the source at pause time.</summary>
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
    DateTimeOffset CompletedAt);
