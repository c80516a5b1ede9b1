namespace Teleport.Contracts;

/// <summary>Command to the destination host worker (rollback of a whole-VM move): stop the incoming QEMU and its path switcher.</summary>
/// <remarks>Attempt: which attempt of the migration this belongs to (a retry starts the next); workers echo the command's attempt so the saga can ignore late answers of an earlier one.</remarks>
public sealed record DiscardIncomingVm(Guid MigrationId, string VmId, string HostId, int Attempt = 1);
