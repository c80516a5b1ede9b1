using Microsoft.Extensions.Logging;
using Teleport.Contracts;

namespace Teleport.Host.Worker;

/// <summary>
/// A fenced storage-only cut-over carried by the host where the VM is (PauseVm.CutOverVolumeId): the pause, the switch and
/// the resume run in one go under one hold of the VM's lock, so nothing (no lock hand-off, no thread-pool hop, no QMP
/// status query) sits between 'stop', the swap and 'cont'. Right after the pause it sends FinalSync to the storage the disk
/// path leads to when Host:SendFinalSync allows (by this host's configuration, never the message's; else the saga's
/// FinalSync does); the switch takes the connection opened before the pause, whose export it selected before the pause
/// (the destination offers it held until its fence is armed: the switch is a local swap). VmPaused, TargetSwitched and
/// VmResumed are published in that order as they happen, behind the VM: no step waits on the broker, so a broker outage
/// costs at most the pause budget (the guard then resumes on the source). The saga's own SwitchTarget, FinalSync and
/// ResumeVm reach work already done and are answered as duplicates.
/// </summary>
internal sealed class LocalCutOver(HostOperations operations, IReadOnlyDictionary<string, HostVm> vms, PersistentBus bus, bool sendFinalSync, ILogger log)
    : IAsyncDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _lock = new();
    // Per VM, the attempt whose cut-over this host started last: a repeated PauseVm must not start it again.
    private readonly Dictionary<string, OperationKey> _started = new(StringComparer.Ordinal);
    private readonly List<Task> _running = [];

    /// <summary>True when <paramref name="command"/> asks this host to carry the cut-over (see <see cref="RunAsync"/>).</summary>
    public bool Carries(PauseVm command) =>
        command.CutOverVolumeId is { Length: > 0 } && command.NextStorageId is { Length: > 0 } && command.NextExportName is { Length: > 0 }
        && vms.ContainsKey(command.VmId) && operations.Find(command.HostId, command.VmId) is null;

    /// <summary>
    /// Pauses the VM and, when this pause is the attempt's first, switches and resumes it before the VM's lock is let go;
    /// the reports go out in the background. Returns what the caller publishes: a repeated or failed pause's answer, or
    /// null when the cut-over publishes its own.
    /// </summary>
    public async Task<object?> RunAsync(PauseVm command, CancellationToken cancellationToken)
    {
        var vm = vms[command.VmId];
        var key = new OperationKey(command.MigrationId, command.Attempt);
        using var held = await vm.LockAsync(cancellationToken).ConfigureAwait(false);
        bool first;
        lock (_lock)
            first = vm.LastResume?.Key != key && !(_started.TryGetValue(vm.Id, out var earlier) && earlier == key);
        object paused;
        try
        {
            paused = await operations.PauseLockedAsync(vm, key, command, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            return await operations.FailedAsync(vm, command.MigrationId, HostOperations.Pause, e, command.Attempt).ConfigureAwait(false);
        }

        if (!first || paused is not VmPaused answer)
            return paused;
        var costs = RuntimeCosts.Now();
        var stopAnswered = DateTimeOffset.UtcNow;
        var (reports, resumed) = await SwitchAndResumeAsync(vm, key, command, answer, _stopping.Token).ConfigureAwait(false);
        LogTimeline(vm, key, answer.PausedAt, stopAnswered, resumed.Since(costs));
        lock (_lock)
        {
            _started[vm.Id] = key;
            _running.RemoveAll(t => t.IsCompleted);
            _running.Add(reports);
        }

        return null;
    }

    // Runs with the VM's lock held since its confirmed pause; returns the reports (and the FinalSync) still going out, and
    // the runtime's costs when the pause was over.
    private async Task<(Task Reports, RuntimeCosts Resumed)> SwitchAndResumeAsync(HostVm vm, OperationKey key, PauseVm command, VmPaused paused, CancellationToken stopping)
    {
        // The path still leads to the source: the storage that runs this migration's final round.
        string source = vm.CurrentStorageId;
        // Neither waits for the other nor holds up the switch; without Host:SendFinalSync the saga's FinalSync starts the
        // final round (the guest's I/O on the destination waits for it, not the switch).
        var sync = sendFinalSync
            ? bus.TrySendToStorageAsync(source, new FinalSync(command.MigrationId, command.CutOverVolumeId!, source, command.Attempt))
            : Task.CompletedTask;
        // Off this thread, and after 'cont' when the switch waits for nothing remote (the export selected before the pause):
        // a fresh worker's first publish of a type JIT-compiles ~200 methods (measured 80-180 ms of JIT in the pause on two
        // loaded cores), which must not compete with the switch and the resume. A switch that may wait for the destination
        // (which may wait for the final round that VmPaused starts) publishes at once.
        var released = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (vm.Switcher?.PreconnectedSelected != true)
            released.SetResult();
        RuntimeCosts resumed;
        var reports = Task.Run(async () =>
        {
            await released.Task.ConfigureAwait(false);
            await bus.PublishAsync(paused, stopping).ConfigureAwait(false);
        }, CancellationToken.None);
        try
        {
            object? switched = await operations.SwitchAsync(new SwitchTarget(command.MigrationId, vm.Id, command.HostId, command.CutOverVolumeId!,
                command.NextStorageId!, command.NextNbdEndpoint ?? "", command.NextExportName!, command.Attempt), pausedUnderLock: true, stopping).ConfigureAwait(false);
            reports = Report(vm, key, "switch", switched, reports, stopping);
            if (switched is TargetSwitched)
                reports = Report(vm, key, "resume", await ResumeAsync(vm, key, command, stopping).ConfigureAwait(false), reports, stopping);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // The worker is stopping.
        }
        finally
        {
            resumed = RuntimeCosts.Now();
            released.TrySetResult();
        }

        HostWorkerLog.LocalCutOver(log, vm.Id, key, sendFinalSync ? source : "(the saga's)", command.NextStorageId!);
        return (Task.WhenAll(sync, reports), resumed);
    }

    // After the resume, never inside the pause: where the pause went, measured on the host's clock.
    private void LogTimeline(HostVm vm, OperationKey key, DateTimeOffset stop, DateTimeOffset stopAnswered, RuntimeCosts costs)
    {
        static double Since(DateTimeOffset stop, DateTimeOffset? at) => at is { } t ? (t - stop).TotalMilliseconds : double.NaN;
        HostWorkerLog.CutOverTimeline(log, vm.Id, key, Since(stop, stopAnswered), Since(stop, vm.LastSwitch?.Key == key ? vm.LastSwitch.Value.At : null),
            Since(stop, vm.LastResume?.Key == key ? vm.LastResume.Value.At : null), costs.JitMethods, costs.JitTime.TotalMilliseconds, costs.Collections,
            costs.GcPause.TotalMilliseconds);
    }

    private async Task<object> ResumeAsync(HostVm vm, OperationKey key, PauseVm command, CancellationToken stopping)
    {
        try
        {
            return await operations.ResumeLockedAsync(vm, key, new ResumeVm(command.MigrationId, vm.Id, command.HostId, command.Attempt, command.NextStorageId),
                stopping).ConfigureAwait(false);
        }
        catch (Exception e) when (!stopping.IsCancellationRequested)
        {
            return await operations.FailedAsync(vm, command.MigrationId, HostOperations.Resume, e, command.Attempt).ConfigureAwait(false);
        }
    }

    // What a step answered goes out after what the steps before it answered. A failure after the cut-over was rolled back
    // (the guard or the saga switched back) is not reported: the rollback's own answers are the ones that count.
    private Task Report(HostVm vm, OperationKey key, string step, object? answer, Task before, CancellationToken stopping)
    {
        if (answer is TargetSwitched or VmResumed)
            return Then(before, answer, stopping);
        HostWorkerLog.LocalCutOverStopped(log, vm.Id, key, step, answer?.ToString() ?? "stopped by a switch back");
        return answer is HostOperationFailed && vm.LastSwitchBack?.Key != key ? Then(before, answer, stopping) : before;
    }

    // On the thread pool, like the first report: publishing must never delay the next step of the cut-over.
    private Task Then(Task before, object message, CancellationToken stopping) => Task.Run(async () =>
    {
        await before.ConfigureAwait(false);
        await bus.PublishAsync(message, stopping).ConfigureAwait(false);
    }, CancellationToken.None);

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        Task[] running;
        lock (_lock)
            running = [.. _running];
        try
        {
            await Task.WhenAll(running).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Reports still waiting for the broker when the worker stopped.
        }

        _stopping.Dispose();
    }
}
