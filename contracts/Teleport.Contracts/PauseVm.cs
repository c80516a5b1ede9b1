namespace Teleport.Contracts;

/// <summary>Command to the host worker: pause the VM so its disk stops changing for the cut-over.</summary>
/// <remarks>Attempt: which attempt of the migration this belongs to (a retry starts the next); workers echo the command's attempt so the saga can ignore late answers of an earlier one.</remarks>
public sealed record PauseVm(Guid MigrationId, string VmId, string HostId, int Attempt = 1);
