namespace Teleport.Host.Worker;

/// <summary>Identifies one command's operation: a migration's attempt (a retry of the migration is a new operation).</summary>
public readonly record struct OperationKey(Guid MigrationId, int Attempt)
{
    public override string ToString() => $"{MigrationId} attempt {Attempt}";
}
