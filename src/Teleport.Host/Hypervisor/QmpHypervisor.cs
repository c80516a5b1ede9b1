using System.Diagnostics;
using System.Text.Json;

namespace Teleport.Host.Hypervisor;

/// <summary>
/// <see cref="IHypervisor"/> for one QEMU process through its QMP socket (<c>-qmp unix:PATH,server=on,wait=off</c>).
/// QEMU's <c>stop</c> drains all block I/O before it answers, so after <see cref="PauseAsync"/> no disk request
/// of the guest is in flight: the path switcher can swap its upstream safely. <c>stop</c> and <c>cont</c> are confirmed
/// by the STOP / RESUME event QEMU sends before its answer on the same socket (read in order, so seen first), which
/// costs no round trip inside the pause; without that event (the VM was not running, or is an incoming VM) the state is
/// asked with <c>query-status</c>.
/// </summary>
public sealed class QmpHypervisor : IHypervisor
{
    private const string IncomingState = "inmigrate";
    private static readonly TimeSpan IncomingPollInterval = TimeSpan.FromMilliseconds(10);
    private readonly QmpClient _client;
    private readonly TimeSpan _incomingCompletionTimeout;
    // Counts of the STOP and RESUME events read so far, and which came last (written on the reader task).
    private int _stops;
    private int _resumes;
    private volatile bool _lastWasResume;

    private QmpHypervisor(QmpClient client, QmpOptions? options)
    {
        _client = client;
        _incomingCompletionTimeout = (options ?? new QmpOptions()).IncomingCompletionTimeout;
        _client.EventReceived += OnEvent;
    }

    public event Action<VmStateChange>? StateChanged;

    /// <summary>The QMP connection, for commands this type does not wrap.</summary>
    public QmpClient Client => _client;

    public static async Task<QmpHypervisor> ConnectAsync(string socketPath, QmpOptions? options = null, CancellationToken cancellationToken = default) =>
        new(await QmpClient.ConnectAsync(socketPath, options, cancellationToken).ConfigureAwait(false), options);

    public async Task<VmStatus> QueryStatusAsync(CancellationToken cancellationToken = default)
    {
        var status = await _client.ExecuteAsync("query-status", null, cancellationToken).ConfigureAwait(false);
        if (status.ValueKind != JsonValueKind.Object
            || !status.TryGetProperty("running", out var running) || running.ValueKind is not (JsonValueKind.True or JsonValueKind.False)
            || !status.TryGetProperty("status", out var state) || state.ValueKind != JsonValueKind.String)
        {
            throw new QmpConnectionException("query-status returned an unexpected shape.");
        }

        return new VmStatus(running.GetBoolean(), state.GetString()!);
    }

    public async Task PauseAsync(CancellationToken cancellationToken = default)
    {
        int stops = Volatile.Read(ref _stops);
        await _client.ExecuteAsync("stop", null, cancellationToken).ConfigureAwait(false);
        if (Volatile.Read(ref _stops) != stops && !_lastWasResume)
        {
            return;
        }

        var status = await QueryStatusAsync(cancellationToken).ConfigureAwait(false);
        if (status.Running)
        {
            throw new InvalidOperationException($"QEMU accepted 'stop' but still reports '{status.State}'.");
        }
    }

    public async Task ResumeAsync(CancellationToken cancellationToken = default)
    {
        int resumes = Volatile.Read(ref _resumes);
        await _client.ExecuteAsync("cont", null, cancellationToken).ConfigureAwait(false);
        if (Volatile.Read(ref _resumes) != resumes && _lastWasResume)
        {
            return;
        }

        var status = await QueryStatusAsync(cancellationToken).ConfigureAwait(false);
        if (status.State == IncomingState)
        {
            status = await AwaitIncomingMigrationAsync(cancellationToken).ConfigureAwait(false);
        }

        if (!status.Running)
        {
            throw new InvalidOperationException($"QEMU accepted 'cont' but reports '{status.State}'.");
        }
    }

    /// <summary>
    /// An incoming QEMU takes <c>cont</c> while the migration's last bytes are still on their way (the source reports
    /// 'completed' once it has sent them, a WAN one-way trip before they are loaded here) and starts by itself once they
    /// are in. Wait for that, bounded. Whatever ends the wait early (the bound, a cancel), the VM is stopped first: in
    /// 'inmigrate' that withdraws the start, so a VM reported as not resumed never starts here behind the saga's back
    /// while the source runs on.
    /// </summary>
    private async Task<VmStatus> AwaitIncomingMigrationAsync(CancellationToken cancellationToken)
    {
        long started = Stopwatch.GetTimestamp();
        try
        {
            while (true)
            {
                await Task.Delay(IncomingPollInterval, cancellationToken).ConfigureAwait(false);
                var status = await QueryStatusAsync(cancellationToken).ConfigureAwait(false);
                if (status.State != IncomingState)
                {
                    return status;
                }

                if (Stopwatch.GetElapsedTime(started) >= _incomingCompletionTimeout)
                {
                    throw new TimeoutException(
                        $"QEMU still receives its incoming migration {_incomingCompletionTimeout.TotalSeconds:0.###} s after 'cont'; stopped it so that it does not start by itself.");
                }
            }
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
            await _client.ExecuteAsync("stop", null, CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    private void OnEvent(QmpEvent e)
    {
        switch (e.Name)
        {
            case "STOP":
                _lastWasResume = false;
                Interlocked.Increment(ref _stops);
                StateChanged?.Invoke(new VmStateChange(false, e.Timestamp));
                break;
            case "RESUME":
                _lastWasResume = true;
                Interlocked.Increment(ref _resumes);
                StateChanged?.Invoke(new VmStateChange(true, e.Timestamp));
                break;
        }
    }

    public ValueTask DisposeAsync()
    {
        _client.EventReceived -= OnEvent;
        return _client.DisposeAsync();
    }
}
