using MassTransit;

namespace Teleport.EndToEnd.Tests.Fixtures;

/// <summary>
/// Runs a kill on a host worker's bus just before that host consumes the first <typeparamref name="T"/>, so a fault
/// lands at an exact step of the move (not at whatever step a polling test happens to see). Dispose to disconnect.
/// </summary>
public sealed class QemuKillBefore<T> : IConsumeMessageObserver<T>, IDisposable
    where T : class
{
    private readonly Func<bool> _kill;
    private readonly TaskCompletionSource<bool> _killed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ConnectHandle _handle;

    public QemuKillBefore(IBus bus, Func<bool> kill)
    {
        _kill = kill;
        _handle = bus.ConnectConsumeMessageObserver(this);
    }

    /// <summary>Whether the kill found a process to kill; completes when the message arrives.</summary>
    public Task<bool> Killed => _killed.Task;

    // The consumer runs after this returns: the process is gone (waited for) by then.
    public Task PreConsume(ConsumeContext<T> context)
    {
        if (!_killed.Task.IsCompleted)
            _killed.TrySetResult(_kill());
        return Task.CompletedTask;
    }

    public Task PostConsume(ConsumeContext<T> context) => Task.CompletedTask;

    public Task ConsumeFault(ConsumeContext<T> context, Exception exception) => Task.CompletedTask;

    public void Dispose() => _handle.Disconnect();
}
