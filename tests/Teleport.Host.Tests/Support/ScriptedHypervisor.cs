using Teleport.Host.Hypervisor;

namespace Teleport.Host.Tests.Support;

/// <summary>An in-process "VM" supplied to the host worker instead of QMP: tracks its run state, can be made to fail.</summary>
internal sealed class ScriptedHypervisor : IHypervisor
{
    private volatile bool _running = true;

    public event Action<VmStateChange>? StateChanged;

    public int Pauses { get; private set; }

    public int Resumes { get; private set; }

    /// <summary>query-status calls so far.</summary>
    public int Queries => _queries;

    private int _queries;

    /// <summary>When set, every call fails with it (QEMU gone, say).</summary>
    public Exception? Failure { get; set; }

    public bool Running => _running;

    public Task<VmStatus> QueryStatusAsync(CancellationToken cancellationToken = default) =>
        Interlocked.Increment(ref _queries) > 0 && Failure is { } failure ? Task.FromException<VmStatus>(failure) : Task.FromResult(new VmStatus(_running, _running ? "running" : "paused"));

    public Task PauseAsync(CancellationToken cancellationToken = default) => Set(false);

    public Task ResumeAsync(CancellationToken cancellationToken = default) => Set(true);

    private Task Set(bool running)
    {
        if (Failure is { } failure)
            return Task.FromException(failure);
        if (running)
            Resumes++;
        else
            Pauses++;
        _running = running;
        StateChanged?.Invoke(new VmStateChange(running, DateTimeOffset.UtcNow));
        return Task.CompletedTask;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
