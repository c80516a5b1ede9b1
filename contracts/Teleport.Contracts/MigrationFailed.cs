namespace Teleport.Contracts;

/// <summary>Event published by the orchestrator: the migration rolled back and ended Failed in Phase for Reason.</summary>
public sealed record MigrationFailed(Guid MigrationId, string VmId, string Phase, string Reason, DateTimeOffset FailedAt);
