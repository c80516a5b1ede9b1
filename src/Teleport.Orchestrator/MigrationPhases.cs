namespace Teleport.Orchestrator;

/// <summary>Operator-level phase names kept on the saga row (several states belong to one phase).</summary>
public static class MigrationPhases
{
    public const string Prepare = "Prepare";
    public const string Index = "Index";
    public const string Request = "Request";
    public const string Copy = "Copy";
    public const string CutOver = "CutOver";
    public const string Rollback = "Rollback";
    public const string Succeeded = "Succeeded";
    public const string Failed = "Failed";
}
