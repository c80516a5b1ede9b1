namespace Teleport.Host.Hypervisor;

/// <summary>A VM's run state as the hypervisor reports it (QEMU: "running", "paused", "prelaunch", ...).</summary>
public sealed record VmStatus(bool Running, string State);
