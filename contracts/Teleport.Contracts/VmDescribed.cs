namespace Teleport.Contracts;

/// <summary>Event from the source host worker: the VM's definition, for the destination host to start it from.</summary>
/// <remarks>Attempt: which attempt of the migration this belongs to (a retry starts the next); workers echo the command's attempt so the saga can ignore late answers of an earlier one.</remarks>
public sealed record VmDescribed(Guid MigrationId, string VmId, string HostId, VmDefinition Definition, int Attempt = 1);
