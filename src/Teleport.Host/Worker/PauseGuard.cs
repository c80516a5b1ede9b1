using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Teleport.Contracts;
using Teleport.Host.Switching;

namespace Teleport.Host.Worker;

/// <summary>
/// Bounds a cut-over's pause on this host, whatever happens to the broker, the orchestrator or the WAN: when a PauseVm
/// carried a budget and its attempt has not resumed the VM by then, the guard stops a switch still under way, switches
/// the path back if it had moved (nothing was written on the destination: the VM was paused), resumes the VM on the
/// source and publishes HostOperationFailed("pause budget"). The saga then rolls back; its SwitchBack and ResumeVm find
/// the work done and are answered as such, and a forward ResumeVm naming the destination is refused.
/// </summary>
internal sealed class PauseGuard(HostOperations operations, TimeProvider clock, ILogger log) : IAsyncDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _lock = new();
    private readonly List<Task> _running = [];

    /// <summary>Publishes what the guard did (the worker's bus, tried until it takes it).</summary>
    public PersistentBus? Bus { get; set; }

    /// <summary>Starts watching the pause of <paramref name="key"/> that began at <paramref name="pausedAt"/>.</summary>
    public void Arm(HostVm vm, OperationKey key, DateTimeOffset pausedAt, TimeSpan budget)
    {
        var watch = Task.Run(() => WatchAsync(vm, key, pausedAt, budget, _stopping.Token), CancellationToken.None);
        lock (_lock)
        {
            _running.RemoveAll(t => t.IsCompleted);
            _running.Add(watch);
        }
    }

    private async Task WatchAsync(HostVm vm, OperationKey key, DateTimeOffset pausedAt, TimeSpan budget, CancellationToken stopping)
    {
        try
        {
            var left = pausedAt + budget - clock.GetUtcNow();
            if (left > TimeSpan.Zero)
                await Task.Delay(left, clock, stopping).ConfigureAwait(false);
            if (vm.LastResume?.Key == key)
                return;
            // A switch of this attempt may hold the VM's lock while it waits for the destination: stop it first.
            vm.CancelSwitch(key);
            var report = await ResumeOnSourceAsync(vm, key, budget, stopping).ConfigureAwait(false);
            if (report is not null && Bus is { } bus)
                await bus.PublishAsync(report, stopping).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // The worker is stopping.
        }
    }

    private async Task<HostOperationFailed?> ResumeOnSourceAsync(HostVm vm, OperationKey key, TimeSpan budget, CancellationToken stopping)
    {
        using var _ = await vm.LockAsync(stopping).ConfigureAwait(false);
        if (vm.LastResume?.Key == key || vm.LastPause?.Key != key)
            return null; // Resumed in time, or another migration's pause since.
        var took = Stopwatch.StartNew();
        try
        {
            var hypervisor = await vm.HypervisorAsync(stopping).ConfigureAwait(false);
            bool switchedBack = false;
            if (vm.Origins.TryGetValue(key, out var origin) && vm.RequireSwitcher() is var switcher && switcher.Current != origin.Target)
            {
                await operations.SwitchWithRetryAsync(vm, switcher, origin.Target, stopping).ConfigureAwait(false);
                vm.CurrentStorageId = origin.StorageId;
                switchedBack = true;
            }

            // From now on a late SwitchTarget of this attempt is refused, as after the saga's own switch back.
            if (vm.LastSwitchBack?.Key != key)
                vm.LastSwitchBack = (key, clock.GetUtcNow());
            await hypervisor.ResumeAsync(stopping).ConfigureAwait(false);
            var at = clock.GetUtcNow();
            vm.LastResume = (key, at);
            HostWorkerLog.PauseBudgetSpent(log, vm.Id, key, budget.TotalMilliseconds, switchedBack, took.Elapsed.TotalMilliseconds);
            string reason = $"the cut-over did not complete within the pause budget of {budget.TotalMilliseconds:0} ms; " +
                $"the VM runs on storage '{vm.CurrentStorageId}' (the source) again{(switchedBack ? ", its path switched back" : "")}";
            return operations.Failed(key.MigrationId, vm.Id, HostOperationNames.PauseBudget, reason, key.Attempt);
        }
        catch (Exception e) when (e is not OperationCanceledException || !stopping.IsCancellationRequested)
        {
            // The VM stays paused (e.g. the destination cannot be flushed to switch back): the saga's rollback takes over.
            return await operations.FailedAsync(vm, key.MigrationId, HostOperationNames.PauseBudget,
                new HostOperationException($"the pause budget of {budget.TotalMilliseconds:0} ms passed but the VM could not be resumed on the source: {e.Message}", e),
                key.Attempt).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        Task[] running;
        lock (_lock)
            running = [.. _running];
        await Task.WhenAll(running).ConfigureAwait(false);
        _stopping.Dispose();
    }
}
