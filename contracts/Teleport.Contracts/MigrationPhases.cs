namespace Teleport.Contracts;

/// <summary>
/// The operator-level phases of a migration: the saga row's Phase and FailedPhase, <see cref="MigrationFailed.Phase"/>
/// and <see cref="TransferFailed.Phase"/>. Several saga states belong to one phase (docs/saga.md maps them, and the data
/// channel's phases, to these). The strings are stored and published: never change one.
/// </summary>
public static class MigrationPhases
{
    public const string Prepare = "Prepare";
    public const string Index = "Index";
    public const string Request = "Request";
    public const string Copy = "Copy";

    /// <summary>Whole-VM moves: QEMU's memory pre-copy, while the disk's dirty tracking continues.</summary>
    public const string Memory = "Memory";
    public const string CutOver = "CutOver";

    /// <summary>Fenced cut-over: the VM runs on the destination while the final round and the verification finish behind it.</summary>
    public const string Tail = "Tail";
    public const string Rollback = "Rollback";
    public const string Succeeded = "Succeeded";
    public const string Failed = "Failed";
}
