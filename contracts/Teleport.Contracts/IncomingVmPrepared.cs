namespace Teleport.Contracts;

/// <summary>Event from the destination host worker: the incoming QEMU runs paused and waits for memory at MigrationEndpoint.</summary>
/// <remarks>Attempt: which attempt of the migration this belongs to (a retry starts the next); workers echo the command's attempt so the saga can ignore late answers of an earlier one.</remarks>
public sealed record IncomingVmPrepared(Guid MigrationId, string VmId, string HostId, string MigrationEndpoint, DateTimeOffset PreparedAt, int Attempt = 1);
