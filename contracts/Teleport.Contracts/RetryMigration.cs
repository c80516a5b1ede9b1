namespace Teleport.Contracts;

/// <summary>Command to the orchestrator: restart a Failed migration, reusing what the destination already holds.</summary>
public sealed record RetryMigration(Guid MigrationId);
