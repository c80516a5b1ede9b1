namespace Teleport.Cli.Commands;

/// <summary>How a migration ended (or that it is still running), as <c>teleport migrate --wait --json</c> prints it.</summary>
public sealed record MigrateOutcome(
    Guid MigrationId,
    string State,
    string? FailedPhase,
    string? Reason,
    long VolumeBytes,
    long BytesOnWire,
    long Blocks,
    long BlocksFromIndex,
    int Rounds,
    double? DowntimeMs,
    double? PausedToVerifiedMs = null,
    double? PausedToSwitchedMs = null,
    string? DestinationHostId = null,
    long MemoryBytes = 0,
    double? QemuDowntimeMs = null,
    double? StorageDowntimeMs = null,
    double? PredictedDowntimeMs = null,
    bool PostCopy = false);
