namespace Teleport.Contracts;

/// <summary>Command to the host worker: pause the VM so its disk stops changing for the cut-over.</summary>
public sealed record PauseVm(Guid MigrationId, string VmId, string HostId);
