using MassTransit;

namespace Teleport.EndToEnd.Tests.Fixtures;

/// <summary>
/// Runs a step on a worker's bus just before that worker consumes the first <typeparamref name="T"/> (a kill, or a
/// wait for what the test must see first), so a fault or an observation lands at an exact step of the move, not at
/// whatever step a polling test happens to see. Dispose to disconnect.
/// </summary>
public sealed class BeforeFirstConsume<T> : IConsumeMessageObserver<T>, IDisposable
    where T : class
{
    private readonly Func<Task<bool>> _step;
    private readonly TaskCompletionSource<bool> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ConnectHandle _handle;
    private int _started;

    public BeforeFirstConsume(IBus bus, Func<Task<bool>> step)
    {
        _step = step;
        _handle = bus.ConnectConsumeMessageObserver(this);
    }

    /// <summary>The step's answer (e.g. whether the kill found a process); completes once the step ran.</summary>
    public Task<bool> Done => _done.Task;

    // The consumer runs after this returns: the step has finished by then.
    public async Task PreConsume(ConsumeContext<T> context)
    {
        if (Interlocked.Exchange(ref _started, 1) == 0)
            _done.TrySetResult(await _step().ConfigureAwait(false));
    }

    public Task PostConsume(ConsumeContext<T> context) => Task.CompletedTask;

    public Task ConsumeFault(ConsumeContext<T> context, Exception exception) => Task.CompletedTask;

    public void Dispose() => _handle.Disconnect();
}
