using Microsoft.Extensions.Logging;
using Teleport.Contracts;

namespace Teleport.Host.Worker;

/// <summary>
/// A fenced storage-only cut-over carried by the host where the VM is (PauseVm.CutOverVolumeId): right after the pause it
/// sends FinalSync to the storage the disk path leads to when Host:SendFinalSync allows (by this host's configuration,
/// never the message's; else the saga's FinalSync does), switches
/// on the connection opened before the pause, whose export it selected before the pause (the destination offers it held
/// until its fence is armed: the switch is a local swap), and resumes the VM there. VmPaused, TargetSwitched and VmResumed are published in that order as they happen, behind the VM: no step
/// waits on the broker, so a broker outage costs at most the pause budget (the guard then resumes on the source).
/// The saga's own SwitchTarget, FinalSync and ResumeVm reach work already done and are answered as duplicates.
/// </summary>
internal sealed class LocalCutOver(HostOperations operations, IReadOnlyDictionary<string, HostVm> vms, PersistentBus bus, bool sendFinalSync, ILogger log)
    : IAsyncDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _lock = new();
    // Per VM, the attempt whose cut-over this host started last: a repeated PauseVm must not start it again.
    private readonly Dictionary<string, OperationKey> _started = new(StringComparer.Ordinal);
    private readonly List<Task> _running = [];

    /// <summary>
    /// Starts the cut-over in the background when <paramref name="command"/> asks for it and this pause is its first;
    /// false: nothing started (the caller publishes <paramref name="paused"/> itself).
    /// </summary>
    public bool TryStart(PauseVm command, VmPaused paused)
    {
        if (command.CutOverVolumeId is not { Length: > 0 } || command.NextStorageId is not { Length: > 0 } || command.NextExportName is not { Length: > 0 }
            || !vms.TryGetValue(command.VmId, out var vm))
            return false;
        var key = new OperationKey(command.MigrationId, command.Attempt);
        lock (_lock)
        {
            if (vm.LastResume?.Key == key || (_started.TryGetValue(vm.Id, out var earlier) && earlier == key))
                return false;
            _started[vm.Id] = key;
            _running.RemoveAll(t => t.IsCompleted);
            _running.Add(Task.Run(() => RunAsync(vm, key, command, paused, _stopping.Token), CancellationToken.None));
        }

        return true;
    }

    private async Task RunAsync(HostVm vm, OperationKey key, PauseVm command, VmPaused paused, CancellationToken stopping)
    {
        // The path still leads to the source: the storage that runs this migration's final round.
        string source = vm.CurrentStorageId;
        HostWorkerLog.LocalCutOver(log, vm.Id, key, sendFinalSync ? source : "(the saga's)", command.NextStorageId!);
        // Neither waits for the other nor holds up the switch; without Host:SendFinalSync the saga's FinalSync starts the
        // final round (the guest's I/O on the destination waits for it, not the switch).
        var sync = sendFinalSync
            ? bus.TrySendToStorageAsync(source, new FinalSync(command.MigrationId, command.CutOverVolumeId!, source, command.Attempt))
            : Task.CompletedTask;
        // Off this thread: a fresh worker's first publish does 100+ ms of work before its first await (its pipeline and
        // serializer), which must not hold up the switch and the resume.
        var reports = Task.Run(() => bus.PublishAsync(paused, stopping), CancellationToken.None);
        try
        {
            object? switched = await operations.SwitchAsync(new SwitchTarget(command.MigrationId, vm.Id, command.HostId, command.CutOverVolumeId!,
                command.NextStorageId!, command.NextNbdEndpoint ?? "", command.NextExportName!, command.Attempt), stopping).ConfigureAwait(false);
            reports = Report(vm, key, "switch", switched, reports, stopping);
            if (switched is TargetSwitched)
            {
                object resumed = await operations.ResumeAsync(new ResumeVm(command.MigrationId, vm.Id, command.HostId, command.Attempt, command.NextStorageId),
                    stopping).ConfigureAwait(false);
                reports = Report(vm, key, "resume", resumed, reports, stopping);
            }

            await Task.WhenAll(sync, reports).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // The worker is stopping.
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
