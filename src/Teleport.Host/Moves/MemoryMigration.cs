using Teleport.Host.Hypervisor;
using Teleport.Host.Worker;

namespace Teleport.Host.Moves;

/// <summary>
/// One outgoing memory migration of a VM (one migration attempt): its QMP connection, a wake-up on each MIGRATION
/// event, and what it answered so far, so repeated commands are answered the same way.
/// </summary>
internal sealed class MemoryMigration : IDisposable, IAsyncDisposable
{
    private readonly Lock _lock = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public MemoryMigration(OperationKey key, QmpClient qmp)
    {
        Key = key;
        Qmp = qmp;
        Qmp.EventReceived += OnEvent;
    }

    public OperationKey Key { get; }

    public QmpClient Qmp { get; }

    /// <summary>The answer to MigrateVmMemory (MemoryPreSwitchover, HostOperationFailed, or null after our own cancel).</summary>
    public Task<object?> Outcome { get; set; } = Task.FromResult<object?>(null);

    /// <summary>A ResumeVm cancelled it (rollback): its end is not a failure to report.</summary>
    public bool CancelRequested { get; set; }

    /// <summary>migrate-continue was sent (by ContinueVmMigration, or at pre-switchover when the command asked for it).</summary>
    public bool Continued { get; set; }

    /// <summary>When pre-copy stops converging (null: post-copy not allowed for this migration).</summary>
    public PreCopyConvergence? Convergence { get; init; }

    /// <summary>migrate-start-postcopy was sent: from migrate-continue on, the source can no longer resume.</summary>
    public bool PostCopyStarted { get; set; }

    /// <summary>The relay carrying the outgoing stream (null: an incoming side's watcher).</summary>
    public Relay.OutgoingMemoryRelay? Relay { get; init; }

    /// <summary>The answer to ContinueVmMigration once QEMU completed.</summary>
    public object? Completed { get; set; }

    /// <summary>Completes on the next MIGRATION event, or after <paramref name="interval"/>.</summary>
    public Task WaitForChangeAsync(TimeSpan interval, CancellationToken cancellationToken)
    {
        Task changed;
        lock (_lock)
            changed = _changed.Task;
        return Task.WhenAny(changed, Task.Delay(interval, cancellationToken)).Unwrap();
    }

    /// <summary>Polls query-migrate (woken by events) until <paramref name="done"/> holds or <paramref name="timeout"/> passes.</summary>
    /// <exception cref="TimeoutException">QEMU stayed in another state.</exception>
    public async Task<MigrationState> WaitForAsync(Func<MigrationState, bool> done, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var state = await QmpMigration.QueryAsync(Qmp, cancellationToken).ConfigureAwait(false);
            if (done(state))
                return state;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"the memory migration stayed '{state.Status}' for {timeout.TotalSeconds:0.#} s");
            await WaitForChangeAsync(TimeSpan.FromMilliseconds(100), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// A completed migration's figures. QEMU reports 'completed' a moment before it has computed the downtime, so a
    /// query in between reads a downtime of 0; query again (briefly) until it is there.
    /// </summary>
    public async Task<MigrationState> CompletedFiguresAsync(MigrationState completed, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(1);
        while (completed.Downtime is null or 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10, cancellationToken).ConfigureAwait(false);
            completed = await QmpMigration.QueryAsync(Qmp, cancellationToken).ConfigureAwait(false);
        }

        return completed;
    }

    private void OnEvent(QmpEvent e)
    {
        if (e.Name != "MIGRATION")
            return;
        TaskCompletionSource fired;
        lock (_lock)
        {
            fired = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        fired.TrySetResult();
    }

    public void Dispose() => Qmp.EventReceived -= OnEvent;

    /// <summary>Also closes the relay (its QEMU sockets, its links).</summary>
    public async ValueTask DisposeAsync()
    {
        Dispose();
        if (Relay is not null)
            await Relay.DisposeAsync().ConfigureAwait(false);
    }
}
