namespace Teleport.Contracts;

/// <summary>Command to the host worker: let the paused VM run again (on whichever export its path now leads to).</summary>
/// <remarks>Attempt: which attempt of the migration this belongs to (a retry starts the next); workers echo the command's attempt so the saga can ignore late answers of an earlier one.
/// StorageId: resume only while the disk path leads to this storage (the forward resume names the destination, so a VM the host already
/// returned to the source is not reported as running on the destination); null: wherever the path leads.</remarks>
public sealed record ResumeVm(Guid MigrationId, string VmId, string HostId, int Attempt = 1, string? StorageId = null);
