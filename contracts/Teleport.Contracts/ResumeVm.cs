namespace Teleport.Contracts;

/// <summary>Command to the host worker: let the paused VM run again (on whichever export its path now leads to).</summary>
public sealed record ResumeVm(Guid MigrationId, string VmId, string HostId);
