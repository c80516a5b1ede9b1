namespace Teleport.Contracts;

/// <summary>Command to the source host worker of a whole-VM move: publish the VM's definition (VmDescribed).</summary>
/// <remarks>Attempt: which attempt of the migration this belongs to (a retry starts the next); workers echo the command's attempt so the saga can ignore late answers of an earlier one.</remarks>
public sealed record DescribeVm(Guid MigrationId, string VmId, string HostId, int Attempt = 1);
