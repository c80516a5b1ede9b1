namespace Teleport.Host.Hypervisor;

/// <summary>A run-state change reported by the hypervisor, with the hypervisor's own timestamp.</summary>
public sealed record VmStateChange(bool Running, DateTimeOffset At);
