using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Teleport.Contracts;
using Teleport.Host.Hypervisor;
using Teleport.Host.Switching;

namespace Teleport.Host.Worker;

/// <summary>
/// The host worker's four operations, each turning a command into the event to publish (null: publish nothing).
/// Idempotent per migration attempt: a repeated PauseVm on a VM still paused answers the same VmPaused, a
/// SwitchTarget to where the path already leads answers TargetSwitched, and so on. Every failure becomes a
/// HostOperationFailed with the reason; nothing here throws for bad input.
/// </summary>
public sealed class HostOperations
{
    public const string Pause = HostOperationNames.Pause;
    public const string Switch = HostOperationNames.Switch;
    public const string SwitchBackOperation = HostOperationNames.SwitchBack;
    public const string Resume = HostOperationNames.Resume;

    private readonly HostWorkerOptions _options;
    private readonly IReadOnlyDictionary<string, HostVm> _vms;
    private readonly TimeProvider _clock;
    private readonly ILogger _log;
    private readonly UpstreamResolver _upstreams;

    /// <summary>Where each storage id's NBD endpoint is, by this host's configuration.</summary>
    internal UpstreamResolver Upstreams => _upstreams;

    /// <summary>The host worker's log, for the operations that share this frame.</summary>
    internal ILogger Log => _log;

    public HostOperations(HostWorkerOptions options, IReadOnlyDictionary<string, HostVm> vms, TimeProvider clock, ILogger log)
    {
        _options = options;
        _upstreams = new UpstreamResolver(options);
        _vms = vms;
        _clock = clock;
        _log = log;
        Guard = new PauseGuard(this, clock, log);
    }

    /// <summary>Ends pauses that outlive their PauseVm's budget.</summary>
    internal PauseGuard Guard { get; }

    /// <summary>Runs before 'cont' under the VM's lock (the whole-VM move's part of a resume).</summary>
    internal Func<HostVm, IHypervisor, CancellationToken, Task>? BeforeResume { get; set; }

    /// <summary>Runs under the VM's lock when a resume failed, before the failure is answered (an incoming VM is stopped).</summary>
    internal Func<HostVm, Task>? ResumeFailed { get; set; }

    public Task<object> PauseAsync(PauseVm command, CancellationToken cancellationToken) =>
        UnderVmLockAsync(Pause, (command.MigrationId, command.Attempt, command.HostId, command.VmId),
            (vm, key) => PauseLockedAsync(vm, key, command, cancellationToken), cancellationToken);

    internal async Task<object> PauseLockedAsync(HostVm vm, OperationKey key, PauseVm command, CancellationToken cancellationToken)
    {
        // A repeat is answered as the first was: while the VM is still paused, or whenever this attempt has resumed
        // it since (a late redelivery must not pause a VM whose cut-over is over).
        if (vm.LastPause is { } last && last.Key == key
            && (vm.LastResume?.Key == key || !(await (await vm.HypervisorAsync(cancellationToken).ConfigureAwait(false)).QueryStatusAsync(cancellationToken).ConfigureAwait(false)).Running))
        {
            HostWorkerLog.Repeated(_log, vm.Id, nameof(PauseVm), key);
            return new VmPaused(command.MigrationId, vm.Id, _options.HostId, last.At, command.Attempt);
        }

        var hypervisor = await vm.HypervisorAsync(cancellationToken).ConfigureAwait(false);
        await PreconnectAsync(vm, command, cancellationToken).ConfigureAwait(false);
        // The guest may stop as soon as 'stop' is sent: the downtime is counted from here.
        var at = _clock.GetUtcNow();
        var took = Stopwatch.StartNew();
        await hypervisor.PauseAsync(cancellationToken).ConfigureAwait(false);
        vm.LastPause = (key, at);
        if (command.PauseBudgetMilliseconds is > 0 and int budget)
            Guard.Arm(vm, key, at, TimeSpan.FromMilliseconds(budget));
        HostWorkerLog.Paused(_log, vm.Id, key, took.Elapsed.TotalMilliseconds);
        HostWorkerMetrics.Paused();
        return new VmPaused(command.MigrationId, vm.Id, _options.HostId, at, command.Attempt);
    }

    // Opens the connection the coming switch will use while the VM still runs: the switch then opens none. Only a
    // configured storage is connected to; a failure costs nothing but the switch connecting by itself.
    private async Task PreconnectAsync(HostVm vm, PauseVm command, CancellationToken cancellationToken)
    {
        if (command.NextExportName is not { Length: > 0 } export || command.NextStorageId is not { } storage || vm.Switcher is not { } switcher)
            return;
        try
        {
            if (!HostWorkerOptions.IsSafeId(storage) || !_upstreams.TryResolve(storage, command.NextNbdEndpoint, out var address, out _))
                throw new HostOperationException($"storage '{storage}' is not configured on this host");
            var target = new UpstreamTarget(await address.ResolveAsync(cancellationToken).ConfigureAwait(false), export);
            if (switcher.Current == target)
                return;
            var took = Stopwatch.StartNew();
            // A fenced cut-over the host carries: the destination offers the export held, so it is selected now and the
            // switch after the pause crosses no network.
            await switcher.PreconnectAsync(target, select: command.CutOverVolumeId is { Length: > 0 }, cancellationToken).ConfigureAwait(false);
            HostWorkerLog.Preconnected(_log, vm.Id, target, switcher.PreconnectedSelected, took.Elapsed.TotalMilliseconds);
        }
        catch (Exception e) when (e is PathSwitchException or HostOperationException or System.Net.Sockets.SocketException or ArgumentException)
        {
            HostWorkerLog.PreconnectFailed(_log, vm.Id, storage, e.Message);
        }
    }

    public Task<object> ResumeAsync(ResumeVm command, CancellationToken cancellationToken) =>
        UnderVmLockAsync(Resume, (command.MigrationId, command.Attempt, command.HostId, command.VmId),
            (vm, key) => ResumeLockedAsync(vm, key, command, cancellationToken), cancellationToken);

    internal async Task<object> ResumeLockedAsync(HostVm vm, OperationKey key, ResumeVm command, CancellationToken cancellationToken)
    {
        // A forward resume names the destination: a VM this host already returned to the source (its pause budget
        // passed) must not be reported as running on the destination.
        if (command.StorageId is { } expected && !string.Equals(vm.CurrentStorageId, expected, StringComparison.Ordinal))
            return Failed(command.MigrationId, vm.Id, Resume, $"VM '{vm.Id}' is on storage '{vm.CurrentStorageId}', not '{expected}'; not resumed for this cut-over", command.Attempt);

        // This attempt resumed the VM already: answer as then and leave the VM alone (it may have been paused
        // since by another migration, which a late redelivery must not undo).
        if (vm.LastResume is { } last && last.Key == key)
        {
            HostWorkerLog.Repeated(_log, vm.Id, nameof(ResumeVm), key);
            return new VmResumed(command.MigrationId, vm.Id, _options.HostId, last.At, command.Attempt);
        }

        var took = new Stopwatch();
        try
        {
            var hypervisor = await vm.HypervisorAsync(cancellationToken).ConfigureAwait(false);
            // A whole-VM move: cancel this VM's outgoing memory migration, or attach an incoming VM to its storage.
            if (BeforeResume is { } prepare)
                await prepare(vm, hypervisor, cancellationToken).ConfigureAwait(false);
            took.Start();
            await hypervisor.ResumeAsync(cancellationToken).ConfigureAwait(false);
        }
        catch when (ResumeFailed is not null)
        {
            await ResumeFailed(vm).ConfigureAwait(false);
            throw;
        }

        // Counted once QEMU confirms it runs: an upper bound of the downtime.
        var at = _clock.GetUtcNow();
        vm.LastResume = (key, at);
        HostWorkerLog.Resumed(_log, vm.Id, key, took.Elapsed.TotalMilliseconds);
        return new VmResumed(command.MigrationId, vm.Id, _options.HostId, at, command.Attempt);
    }

    // The frame PauseVm and ResumeVm share: the command must name this host and one of its VMs, runs under the VM's
    // lock, and a failure is answered as HostOperationFailed. (SwitchBack cancels a pending switch before it locks.)
    private async Task<object> UnderVmLockAsync(string operation, (Guid MigrationId, int Attempt, string HostId, string VmId) command,
        Func<HostVm, OperationKey, Task<object>> run, CancellationToken cancellationToken)
    {
        if (Find(command.HostId, command.VmId) is { } problem)
            return Failed(command.MigrationId, command.VmId, operation, problem, command.Attempt);
        var vm = _vms[command.VmId];
        using var _ = await vm.LockAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await run(vm, new OperationKey(command.MigrationId, command.Attempt)).ConfigureAwait(false);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            return await FailedAsync(vm, command.MigrationId, operation, e, command.Attempt).ConfigureAwait(false);
        }
    }

    /// <summary>Repoints the paused VM's disk; null when a SwitchBack of the same attempt stopped it first.</summary>
    public Task<object?> SwitchAsync(SwitchTarget command, CancellationToken cancellationToken) => SwitchAsync(command, pausedUnderLock: false, cancellationToken);

    /// <summary>
    /// <paramref name="pausedUnderLock"/>: the caller holds the VM's lock since its own confirmed 'stop' (the host's cut-over),
    /// so the switch neither takes the lock nor asks QEMU its state again, and never joins a pending SwitchTarget (that
    /// one waits for the lock held here; it is stopped instead and the caller's answer is the one published).
    /// </summary>
    internal async Task<object?> SwitchAsync(SwitchTarget command, bool pausedUnderLock, CancellationToken cancellationToken)
    {
        var key = new OperationKey(command.MigrationId, command.Attempt);
        if (Find(command.HostId, command.VmId) is { } problem)
            return Failed(command.MigrationId, command.VmId, Switch, problem, command.Attempt);
        if (string.IsNullOrWhiteSpace(command.ExportName) || !HostWorkerOptions.IsSafeId(command.StorageId))
            return Failed(command.MigrationId, command.VmId, Switch, $"SwitchTarget needs an export name and a storage id (got '{command.ExportName}', '{command.StorageId}')", command.Attempt);
        if (!_upstreams.TryResolve(command.StorageId, command.NbdEndpoint, out var address, out string unknown))
            return Failed(command.MigrationId, command.VmId, Switch, unknown, command.Attempt);
        if (UpstreamResolver.Differs(address, command.NbdEndpoint))
            HostWorkerLog.ConfiguredUpstream(_log, command.VmId, command.StorageId, address.Text, command.NbdEndpoint);

        var vm = _vms[command.VmId];
        var pending = vm.BeginSwitch(key, command, cancellationToken, out bool joined, mayJoin: !pausedUnderLock);
        if (joined)
        {
            // The saga re-sent a command whose switch still waits for the destination: restarting it would cancel its
            // answer and its retry window. Answer with it instead; a failure or a stop is answered by the switch itself
            // (once: the saga reads a second HostOperationFailed during the rollback as a failed rollback).
            HostWorkerLog.SwitchJoined(_log, vm.Id, key);
            return await pending.Outcome.WaitAsync(cancellationToken).ConfigureAwait(false) as TargetSwitched;
        }

        object? answer = null;
        try
        {
            answer = await SwitchPendingAsync(command, key, vm, address, pausedUnderLock, pending.Cancellation.Token, cancellationToken).ConfigureAwait(false);
            return answer;
        }
        finally
        {
            vm.EndSwitch(key, pending, answer);
        }
    }

    private async Task<object?> SwitchPendingAsync(SwitchTarget command, OperationKey key, HostVm vm, NbdAddress address, bool pausedUnderLock,
        CancellationToken pending, CancellationToken cancellationToken)
    {
        try
        {
            using var _ = pausedUnderLock ? null : await vm.LockAsync(pending).ConfigureAwait(false);
            if (vm.LastSwitchBack is { } back && back.Key == key)
                throw new HostOperationException($"migration {key} was already switched back (rolled back); a late SwitchTarget is refused");
            var switcher = vm.RequireSwitcher();
            var target = new UpstreamTarget(await address.ResolveAsync(pending).ConfigureAwait(false), command.ExportName);
            if (switcher.Current == target)
            {
                HostWorkerLog.Repeated(_log, vm.Id, nameof(SwitchTarget), key);
                var when = vm.LastSwitch is { } last && last.Key == key && last.Target == target ? last.At : _clock.GetUtcNow();
                vm.CurrentStorageId = command.StorageId;
                return new TargetSwitched(command.MigrationId, vm.Id, _options.HostId, command.StorageId, when, command.Attempt);
            }

            if (!pausedUnderLock)
                await RequirePausedAsync(vm, "switched", pending).ConfigureAwait(false);
            var origin = (switcher.Current, vm.CurrentStorageId);
            var took = Stopwatch.StartNew();
            int attempts = await SwitchWithRetryAsync(vm, switcher, target, pending).ConfigureAwait(false);
            vm.Origins.TryAdd(key, origin);
            vm.CurrentStorageId = command.StorageId;
            var at = _clock.GetUtcNow();
            vm.LastSwitch = (key, target, at);
            HostWorkerLog.Switched(_log, vm.Id, target, command.StorageId, took.Elapsed.TotalMilliseconds, attempts);
            HostWorkerMetrics.Switched(back: false);
            return new TargetSwitched(command.MigrationId, vm.Id, _options.HostId, command.StorageId, at, command.Attempt);
        }
        catch (OperationCanceledException) when (pending.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            // A SwitchBack of this attempt took over (or the worker is stopping): its answer is the one that counts.
            HostWorkerLog.SwitchCancelled(_log, vm.Id, key);
            return null;
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            return await FailedAsync(vm, command.MigrationId, Switch, e, command.Attempt).ConfigureAwait(false);
        }
    }

    /// <summary>Returns the paused VM's disk to the export it used before this migration attempt switched it.</summary>
    public async Task<object> SwitchBackAsync(SwitchBack command, CancellationToken cancellationToken)
    {
        var key = new OperationKey(command.MigrationId, command.Attempt);
        if (Find(command.HostId, command.VmId) is { } problem)
            return Failed(command.MigrationId, command.VmId, SwitchBackOperation, problem, command.Attempt);
        var vm = _vms[command.VmId];
        vm.CancelSwitch(key);
        using var _ = await vm.LockAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var switcher = vm.RequireSwitcher();
            bool switched = vm.Origins.TryGetValue(key, out var origin);
            if (!switched || switcher.Current == origin.Target)
            {
                // Never switched by this attempt, or back already: the path leads where it did before the migration.
                var when = vm.LastSwitchBack is { } last && last.Key == key ? last.At : _clock.GetUtcNow();
                vm.LastSwitchBack = (key, when);
                string storage = switched ? origin.StorageId : vm.CurrentStorageId;
                return new TargetSwitchedBack(command.MigrationId, vm.Id, _options.HostId, storage, when, command.Attempt);
            }

            // A VM running on the destination has written there: switching it back would lose those writes.
            await RequirePausedAsync(vm, "switched back", cancellationToken).ConfigureAwait(false);
            await SwitchWithRetryAsync(vm, switcher, origin.Target, cancellationToken).ConfigureAwait(false);
            vm.CurrentStorageId = origin.StorageId;
            var at = _clock.GetUtcNow();
            vm.LastSwitchBack = (key, at);
            HostWorkerLog.SwitchedBack(_log, vm.Id, origin.Target, origin.StorageId);
            HostWorkerMetrics.Switched(back: true);
            return new TargetSwitchedBack(command.MigrationId, vm.Id, _options.HostId, origin.StorageId, at, command.Attempt);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            return await FailedAsync(vm, command.MigrationId, SwitchBackOperation, e, command.Attempt).ConfigureAwait(false);
        }
    }

    private static async Task RequirePausedAsync(HostVm vm, string what, CancellationToken cancellationToken)
    {
        var hypervisor = await vm.HypervisorAsync(cancellationToken).ConfigureAwait(false);
        var status = await hypervisor.QueryStatusAsync(cancellationToken).ConfigureAwait(false);
        if (status.Running)
            throw new HostOperationException($"VM '{vm.Id}' is {status.State}; its disk path is only {what} while it is paused");
    }

    // A destination exports the volume once its final sync completes, which runs alongside the switch: an
    // unreachable upstream or a missing export is tried again, briefly and often (the VM is paused meanwhile).
    internal async Task<int> SwitchWithRetryAsync(HostVm vm, PathSwitcher switcher, UpstreamTarget target, CancellationToken cancellationToken)
    {
        var waited = Stopwatch.StartNew();
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                await switcher.SwitchAsync(target, cancellationToken).ConfigureAwait(false);
                return attempt;
            }
            catch (PathSwitchException e) when (e.IsTransient)
            {
                if (waited.Elapsed + _options.SwitchRetryInterval > _options.SwitchRetryWindow)
                    throw new HostOperationException($"{e.Message} (tried {attempt} time(s) for {waited.Elapsed.TotalSeconds:0.#} s)", e);
                if (attempt == 1)
                    HostWorkerLog.SwitchWaiting(_log, vm.Id, target, e.Message, _options.SwitchRetryWindow.TotalSeconds);
                await Task.Delay(_options.SwitchRetryInterval, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    internal string? Find(string hostId, string vmId)
    {
        if (!string.Equals(hostId, _options.HostId, StringComparison.Ordinal))
            return $"the command names host '{hostId}' but reached host '{_options.HostId}'";
        if (vmId is null || !_vms.ContainsKey(vmId))
        {
            string known = _vms.Count == 0 ? "none" : string.Join(", ", _vms.Keys.Order(StringComparer.Ordinal));
            return $"unknown VM '{vmId}' on host '{_options.HostId}' (its VMs: {known})";
        }

        return null;
    }

    internal async Task<HostOperationFailed> FailedAsync(HostVm vm, Guid migrationId, string operation, Exception e, int attempt)
    {
        string reason = e switch
        {
            QmpConnectionException => $"QEMU is gone: {e.Message}",
            TimeoutException => $"QEMU did not answer: {e.Message}",
            QmpException => $"QEMU refused: {e.Message}",
            _ => e.Message,
        };
        if (e is QmpConnectionException)
            await vm.ForgetHypervisorAsync().ConfigureAwait(false);
        return Failed(migrationId, vm.Id, operation, reason, attempt);
    }

    internal HostOperationFailed Failed(Guid migrationId, string vmId, string operation, string reason, int attempt)
    {
        HostWorkerLog.OperationFailed(_log, vmId ?? "", operation, reason);
        return new HostOperationFailed(migrationId, vmId ?? "", _options.HostId, operation, reason, _clock.GetUtcNow(), attempt);
    }
}
