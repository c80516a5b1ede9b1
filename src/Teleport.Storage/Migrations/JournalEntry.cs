namespace Teleport.Storage.Migrations;

/// <summary>What the journal keeps of one side of a migration: enough to report it after a restart.</summary>
public sealed record JournalEntry(Guid MigrationId, MigrationRole Role, string VolumeId, int Attempt, string Phase, bool Completed, DateTimeOffset StartedAt);
