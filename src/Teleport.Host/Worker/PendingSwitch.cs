using Teleport.Contracts;

namespace Teleport.Host.Worker;

/// <summary>
/// A SwitchTarget running or waiting on a VM: its cancellation (a SwitchBack of the same attempt stops it) and its
/// outcome, which a duplicate of the same command awaits instead of starting the switch over.
/// </summary>
internal sealed class PendingSwitch(SwitchTarget command, CancellationTokenSource cancellation)
{
    private readonly TaskCompletionSource<object?> _outcome = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public SwitchTarget Command { get; } = command;

    public CancellationTokenSource Cancellation { get; } = cancellation;

    /// <summary>What the switch answered: TargetSwitched, HostOperationFailed, or null when it was stopped.</summary>
    public Task<object?> Outcome => _outcome.Task;

    public void Complete(object? answer) => _outcome.TrySetResult(answer);
}
