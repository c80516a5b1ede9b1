namespace Teleport.Contracts;

/// <summary>Event published by the orchestrator for other systems: the VM runs on the destination's volume.</summary>
public sealed record MigrationSucceeded(
    Guid MigrationId,
    string VmId,
    string VolumeId,
    string DestinationStorageId,
    long VolumeBytes,
    long BytesOnWire,
    long BlocksFromIndex,
    int Rounds,
    double DowntimeMilliseconds,
    DateTimeOffset SucceededAt);
