namespace Teleport.Contracts;

/// <summary>Event from an orchestrator's deadline sweeper: the migration sat in State past Deadline; ignored unless both still match the saga.</summary>
public sealed record MigrationDeadlineExpired(Guid MigrationId, string State, DateTimeOffset Deadline, DateTimeOffset DetectedAt);
