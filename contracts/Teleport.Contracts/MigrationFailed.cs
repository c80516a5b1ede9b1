namespace Teleport.Contracts;

/// <summary>Event published by the orchestrator: the migration rolled back and ended Failed in Phase for Reason.</summary>
/// <remarks>PostCopy: the migration had gone post-copy (docs/saga.md, "Post-copy"); a failure in its tail is not rolled back.</remarks>
public sealed record MigrationFailed(Guid MigrationId, string VmId, string Phase, string Reason, DateTimeOffset FailedAt, bool PostCopy = false);
