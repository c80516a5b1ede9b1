namespace Teleport.Contracts;

/// <summary>Event from a host worker: a pause, switch or resume it was asked for did not happen.</summary>
/// <remarks>Attempt: which attempt of the migration this belongs to (a retry starts the next); workers echo the command's attempt so the saga can ignore late answers of an earlier one.</remarks>
public sealed record HostOperationFailed(Guid MigrationId, string VmId, string HostId, string Operation, string Reason, DateTimeOffset FailedAt, int Attempt = 1);
