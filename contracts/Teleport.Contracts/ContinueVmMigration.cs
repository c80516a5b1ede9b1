namespace Teleport.Contracts;

/// <summary>Command to the source host worker: the disk is final and verified; let QEMU finish (migrate-continue).</summary>
/// <remarks>Attempt: which attempt of the migration this belongs to (a retry starts the next); workers echo the command's attempt so the saga can ignore late answers of an earlier one.</remarks>
public sealed record ContinueVmMigration(Guid MigrationId, string VmId, string HostId, int Attempt = 1);
