using System.Threading.Tasks.Sources;
using Microsoft.Extensions.Logging;
using Teleport.Nbd.Protocol;

namespace Teleport.Nbd.Server;

/// <summary>
/// A long-lived loop that runs one request at a time for a connection. Handing it work is a reusable
/// awaitable, so dispatching a request allocates nothing.
/// </summary>
internal sealed class NbdRequestWorker : IValueTaskSource<bool>
{
    private readonly NbdWorkerPool _pool;
    private readonly NbdCommandHandler _handler;
    private readonly ILogger _logger;
    private ManualResetValueTaskSourceCore<bool> _signal = new() { RunContinuationsAsynchronously = true };
    private NbdRequest _request;
    private byte[]? _payload;

    public NbdRequestWorker(NbdWorkerPool pool, NbdCommandHandler handler, ILogger logger)
    {
        _pool = pool;
        _handler = handler;
        _logger = logger;
        Completion = RunAsync();
    }

    /// <summary>Ends when the worker was stopped.</summary>
    public Task Completion { get; }

    /// <summary>Starts <paramref name="request"/>; the worker must be idle (rented from the pool).</summary>
    public void Assign(in NbdRequest request, byte[]? payload)
    {
        _request = request;
        _payload = payload;
        _signal.SetResult(true);
    }

    /// <summary>Ends the loop; the worker must be idle.</summary>
    public void Stop() => _signal.SetResult(false);

    private async Task RunAsync()
    {
        while (await new ValueTask<bool>(this, _signal.Version).ConfigureAwait(false))
        {
            _signal.Reset();
            var request = _request;
            byte[]? payload = _payload;
            _payload = null;
            try
            {
                await _handler.ExecuteAsync(request, payload).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                // The handler turns failures into replies; anything else is a bug worth logging, not a crash.
                NbdLog.ConnectionFailed(_logger, e, "worker");
            }

            _pool.Return(this);
        }
    }

    bool IValueTaskSource<bool>.GetResult(short token) => _signal.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<bool>.GetStatus(short token) => _signal.GetStatus(token);

    void IValueTaskSource<bool>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _signal.OnCompleted(continuation, state, token, flags);
}
