namespace Teleport.Contracts;

/// <summary>Event from a host worker: a pause, switch or resume it was asked for did not happen.</summary>
public sealed record HostOperationFailed(Guid MigrationId, string VmId, string HostId, string Operation, string Reason, DateTimeOffset FailedAt);
