namespace Teleport.Contracts;

/// <summary>Command to the orchestrator: roll the migration back to the source and end it as Failed.</summary>
public sealed record CancelMigration(Guid MigrationId, string Reason);
