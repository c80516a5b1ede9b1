namespace Teleport.Contracts;

/// <summary>Command to the source host worker once a whole-VM move succeeded: quit the (paused, stale) source QEMU.</summary>
/// <remarks>Attempt: which attempt of the migration this belongs to (a retry starts the next); workers echo the command's attempt so the saga can ignore late answers of an earlier one.</remarks>
public sealed record StopSourceVm(Guid MigrationId, string VmId, string HostId, int Attempt = 1);
