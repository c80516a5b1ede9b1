namespace Teleport.Host.Hypervisor;

/// <summary>Controls one VM's run state. Implementations: <see cref="QmpHypervisor"/> (QEMU over QMP).</summary>
public interface IHypervisor : IAsyncDisposable
{
    /// <summary>Raised for every run-state change the hypervisor reports (QMP STOP / RESUME).</summary>
    event Action<VmStateChange>? StateChanged;

    Task<VmStatus> QueryStatusAsync(CancellationToken cancellationToken = default);

    /// <summary>Pauses the VM; returns once it is paused and its outstanding disk I/O has completed.</summary>
    Task PauseAsync(CancellationToken cancellationToken = default);

    /// <summary>Resumes a paused VM; returns once it runs.</summary>
    Task ResumeAsync(CancellationToken cancellationToken = default);
}
