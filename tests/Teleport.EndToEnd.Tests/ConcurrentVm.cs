using Teleport.Host.Hypervisor;

namespace Teleport.EndToEnd.Tests;

/// <summary>
/// A lightweight stand-in for a VM, handed to the host worker instead of QMP: it pauses and resumes at once and
/// reports the change, so fifty "VMs" cost nothing while their disk paths, the storage workers and the saga are real.
/// </summary>
public sealed class ConcurrentVm : IHypervisor
{
    private volatile bool _running = true;

    public event Action<VmStateChange>? StateChanged;

    public bool Running => _running;

    public Task<VmStatus> QueryStatusAsync(CancellationToken cancellationToken = default) =>
        Task.FromResult(new VmStatus(_running, _running ? "running" : "paused"));

    public Task PauseAsync(CancellationToken cancellationToken = default) => Set(false);

    public Task ResumeAsync(CancellationToken cancellationToken = default) => Set(true);

    private Task Set(bool running)
    {
        _running = running;
        StateChanged?.Invoke(new VmStateChange(running, DateTimeOffset.UtcNow));
        return Task.CompletedTask;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
