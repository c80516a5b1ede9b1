using System.Threading.Tasks.Sources;
using Microsoft.Extensions.Logging;

namespace Teleport.Nbd.Server;

/// <summary>
/// The request workers of one connection, created on demand up to the in-flight limit. Renting waits
/// when all are busy, which stops the connection reading the socket: that is the backpressure.
/// Only the connection's read loop rents.
/// </summary>
internal sealed class NbdWorkerPool(NbdCommandHandler handler, int maxWorkers, ILogger logger) : IValueTaskSource<NbdRequestWorker>
{
    private readonly Lock _lock = new();
    private readonly Stack<NbdRequestWorker> _idle = new();
    private readonly List<NbdRequestWorker> _all = [];
    private ManualResetValueTaskSourceCore<NbdRequestWorker> _waiter = new() { RunContinuationsAsynchronously = true };
    private bool _waiting;
    private bool _stopping;

    public ValueTask<NbdRequestWorker> RentAsync()
    {
        lock (_lock)
        {
            if (_idle.TryPop(out var worker))
            {
                return new ValueTask<NbdRequestWorker>(worker);
            }

            if (!_stopping && _all.Count < maxWorkers)
            {
                worker = new NbdRequestWorker(this, handler, logger);
                _all.Add(worker);
                return new ValueTask<NbdRequestWorker>(worker);
            }

            _waiter.Reset();
            _waiting = true;
            return new ValueTask<NbdRequestWorker>(this, _waiter.Version);
        }
    }

    public void Return(NbdRequestWorker worker)
    {
        lock (_lock)
        {
            if (_waiting)
            {
                _waiting = false;
                _waiter.SetResult(worker);
                return;
            }

            _idle.Push(worker);
        }
    }

    /// <summary>Waits for every running request to finish, then ends all workers.</summary>
    public async Task StopAsync()
    {
        int count;
        lock (_lock)
        {
            _stopping = true;
            count = _all.Count;
        }

        for (int i = 0; i < count; i++)
        {
            var worker = await RentAsync().ConfigureAwait(false);
            worker.Stop();
        }

        await Task.WhenAll(_all.Select(w => w.Completion)).ConfigureAwait(false);
    }

    NbdRequestWorker IValueTaskSource<NbdRequestWorker>.GetResult(short token) => _waiter.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<NbdRequestWorker>.GetStatus(short token) => _waiter.GetStatus(token);

    void IValueTaskSource<NbdRequestWorker>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _waiter.OnCompleted(continuation, state, token, flags);
}
