namespace Teleport.Contracts;

/// <summary>
/// Event from an orchestrator's deadline sweeper: the migration made no progress in State (of its Attempt) since
/// NudgeAt, so the saga re-sends the command(s) that state still waits on (they or their answer may have been lost).
/// Ignored unless State, Attempt and NudgeAt still match the saga: several sweepers and late nudges do no harm.
/// </summary>
public sealed record MigrationNudged(Guid MigrationId, string State, int Attempt, DateTimeOffset NudgeAt, DateTimeOffset DetectedAt);
