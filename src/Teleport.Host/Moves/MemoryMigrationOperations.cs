using System.Collections.Concurrent;
using System.Diagnostics;
using Teleport.Contracts;
using Teleport.Host.Hypervisor;
using Teleport.Host.Worker;

namespace Teleport.Host.Moves;

/// <summary>
/// The source host's side of a whole-VM move: DescribeVm, MigrateVmMemory (QEMU's own migration, paused before
/// switchover), ContinueVmMigration, StopSourceVm, and the cancel a rollback's ResumeVm does first
/// (<see cref="CancelOutgoingAsync"/>). Memory goes only to a configured peer host's address.
/// </summary>
public sealed class MemoryMigrationOperations(HostWorkerOptions options, IReadOnlyDictionary<string, HostVm> vms, HostOperations host, TimeProvider clock)
{
    private static readonly TimeSpan ContinueTimeout = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan CancelTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(10);
    private readonly HostWorkerOptions _options = options;
    private readonly IReadOnlyDictionary<string, HostVm> _vms = vms;
    private readonly HostOperations _host = host;
    private readonly TimeProvider _clock = clock;
    private readonly ConcurrentDictionary<string, (OperationKey Key, DateTimeOffset At)> _stopped = new(StringComparer.Ordinal);

    public async Task<object> DescribeAsync(DescribeVm command, CancellationToken cancellationToken)
    {
        const string operation = HostOperationNames.Describe;
        if (_host.Find(command.HostId, command.VmId) is { } problem)
            return _host.Failed(command.MigrationId, command.VmId, operation, problem, command.Attempt);
        var vm = _vms[command.VmId];
        try
        {
            var definition = vm.Options.Definition ?? (vm.Options.DefinitionFile is { } file
                ? await VmDefinitionFile.ReadAsync(file, vm.RequireSwitcher().Size, cancellationToken).ConfigureAwait(false)
                : throw new HostOperationException($"VM '{vm.Id}' has no definition (Host:Vms:{vm.Id}:DefinitionFile): it can only move its disk"));
            return new VmDescribed(command.MigrationId, vm.Id, _options.HostId, definition, command.Attempt);
        }
        catch (Exception e) when (e is InvalidDataException or HostOperationException)
        {
            return _host.Failed(command.MigrationId, vm.Id, operation, e.Message, command.Attempt);
        }
    }

    /// <summary>Starts QEMU's migration and follows it to pre-switchover, publishing progress on the way.</summary>
    public async Task<object?> MigrateAsync(MigrateVmMemory command, Func<MemoryMigrationProgress, Task> progress, CancellationToken cancellationToken)
    {
        const string operation = HostOperationNames.MigrateMemory;
        if ((_host.Find(command.HostId, command.VmId) ?? Destination(command) ?? QmpMigration.OptionsProblem(command.Options)) is { } problem)
            return _host.Failed(command.MigrationId, command.VmId, operation, problem, command.Attempt);
        var vm = _vms[command.VmId];
        var key = new OperationKey(command.MigrationId, command.Attempt);
        MemoryMigration migration;
        using (await vm.LockAsync(cancellationToken).ConfigureAwait(false))
        {
            // A redelivered command joins the migration it started (outside the lock: its continue at pre-switchover takes it).
            if (vm.Outgoing is { } earlier && earlier.Key == key)
            {
                migration = earlier;
            }
            else
            {
                try
                {
                    migration = await StartAsync(vm, key, command, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (!cancellationToken.IsCancellationRequested)
                {
                    return await _host.FailedAsync(vm, command.MigrationId, operation, e, command.Attempt).ConfigureAwait(false);
                }

                migration.Outcome = FollowAsync(vm, migration, command, progress, cancellationToken);
            }
        }

        return await migration.Outcome.ConfigureAwait(false);
    }

    // Memory only goes to a configured peer, at the address configured for it: never where a message alone says.
    private string? Destination(MigrateVmMemory command)
    {
        if (command.DestinationHostId is null || !_options.Peers.TryGetValue(command.DestinationHostId, out string? address))
            return $"host '{command.DestinationHostId}' is not a configured peer of host '{_options.HostId}' (Host:Peers)";
        if (!TcpAddress.TryParse(command.MigrationEndpoint, out var endpoint) || endpoint.Port == 0)
            return $"migration endpoint '{command.MigrationEndpoint}' is not HOST:PORT";
        return string.Equals(endpoint.Host, address, StringComparison.OrdinalIgnoreCase)
            ? null
            : $"migration endpoint '{command.MigrationEndpoint}' is not at peer '{command.DestinationHostId}''s configured address '{address}'";
    }

    private async Task<MemoryMigration> StartAsync(HostVm vm, OperationKey key, MigrateVmMemory command, CancellationToken cancellationToken)
    {
        if (await vm.HypervisorAsync(cancellationToken).ConfigureAwait(false) is not QmpHypervisor hypervisor)
            throw new HostOperationException($"VM '{vm.Id}' is not controlled over QMP; its memory cannot migrate");
        var qmp = hypervisor.Client;
        var state = await QmpMigration.QueryAsync(qmp, cancellationToken).ConfigureAwait(false);
        if (state.Status is "setup" or "active" or "pre-switchover" or "device" or "cancelling")
            throw new HostOperationException($"VM '{vm.Id}' already has a memory migration in state '{state.Status}'");
        await QmpMigration.SetCapabilitiesAsync(qmp, source: true, command.Options, cancellationToken).ConfigureAwait(false);
        await QmpMigration.SetStreamParametersAsync(qmp, command.Options, cancellationToken).ConfigureAwait(false);
        await QmpMigration.SetLimitsAsync(qmp, command.BandwidthBytesPerSecond, command.Options?.DowntimeLimitMilliseconds, cancellationToken).ConfigureAwait(false);
        if (vm.Outgoing is { } earlier)
            await earlier.DisposeAsync().ConfigureAwait(false);
        var relay = MemoryRelays.StartOutgoing(_options, vm.Id, command.MigrationEndpoint!, command.BandwidthBytesPerSecond, _host.Log);
        var migration = new MemoryMigration(key, qmp)
        {
            Convergence = QmpMigration.PostCopyAllowed(command.Options) ? new PreCopyConvergence(command.Options, _clock.GetUtcNow()) : null,
            Relay = relay,
        };
        vm.Outgoing = migration;
        // QEMU migrates to this host's relay, which carries the stream to the destination and rides out a broken link.
        await qmp.ExecuteAsync("migrate", new Dictionary<string, object?> { ["uri"] = $"unix:{relay.SocketPath}" }, cancellationToken).ConfigureAwait(false);
        return migration;
    }

    private async Task<object?> FollowAsync(HostVm vm, MemoryMigration migration, MigrateVmMemory command, Func<MemoryMigrationProgress, Task> progress,
        CancellationToken cancellationToken)
    {
        await Task.Yield();
        const string operation = HostOperationNames.MigrateMemory;
        var sinceProgress = Stopwatch.StartNew();
        try
        {
            while (true)
            {
                var state = await QmpMigration.QueryAsync(migration.Qmp, cancellationToken).ConfigureAwait(false);
                switch (state.Status)
                {
                    case "pre-switchover":
                        var pausedAt = _clock.GetUtcNow();
                        await DrainAsync(vm, cancellationToken).ConfigureAwait(false);
                        if (command.ContinueAtSwitchover)
                            await ContinueAtSwitchoverAsync(vm, migration, cancellationToken).ConfigureAwait(false);
                        return new MemoryPreSwitchover(command.MigrationId, vm.Id, _options.HostId, pausedAt, state.Transferred, command.Attempt,
                            migration.PostCopyStarted);
                    case "cancelling" or "cancelled" when migration.CancelRequested:
                        return null;
                    case "failed" or "cancelled" or "completed" or "none":
                        return _host.Failed(command.MigrationId, vm.Id, operation,
                            $"QEMU's memory migration ended '{state.Status}' before pre-switchover{(state.Error is null ? "" : ": " + state.Error)}", command.Attempt);
                }

                await StartPostCopyWhenDueAsync(vm, migration, state, cancellationToken).ConfigureAwait(false);
                if (state.Status == "active" && sinceProgress.Elapsed >= _options.MemoryProgressInterval)
                {
                    sinceProgress.Restart();
                    await progress(new MemoryMigrationProgress(command.MigrationId, vm.Id, _options.HostId, state.Status, state.Transferred,
                        state.Remaining, state.Total, state.DirtyPagesRate, state.ExpectedDowntime, _clock.GetUtcNow(), command.Attempt)).ConfigureAwait(false);
                }

                await migration.WaitForChangeAsync(_options.MemoryProgressInterval, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            return await _host.FailedAsync(vm, command.MigrationId, operation, e, command.Attempt).ConfigureAwait(false);
        }
    }

    // Pre-copy that stopped converging turns into post-copy: QEMU still stops at pre-switchover first (the disk's final
    // sync and a rollback stay possible there); after migrate-continue the destination runs and the source cannot.
    private async Task StartPostCopyWhenDueAsync(HostVm vm, MemoryMigration migration, MigrationState state, CancellationToken cancellationToken)
    {
        if (migration.PostCopyStarted || migration.Convergence?.Observe(state, _clock.GetUtcNow()) is not { } why)
            return;
        await migration.Qmp.ExecuteAsync("migrate-start-postcopy", null, cancellationToken).ConfigureAwait(false);
        migration.PostCopyStarted = true;
        HostWorkerLog.PostCopyStarted(_host.Log, vm.Id, migration.Key, why, state.Remaining);
    }

    // A fenced cut-over does not wait for the disk with the vCPUs stopped, so the host goes on at once instead of waiting
    // for the saga's ContinueVmMigration (a broker round trip inside the pause). Under the VM's lock, as ContinueAsync.
    private static async Task ContinueAtSwitchoverAsync(HostVm vm, MemoryMigration migration, CancellationToken cancellationToken)
    {
        using var _ = await vm.LockAsync(cancellationToken).ConfigureAwait(false);
        if (migration.CancelRequested || migration.Continued)
            return;
        await migration.Qmp.ExecuteAsync("migrate-continue", new Dictionary<string, object?> { ["state"] = "pre-switchover" }, cancellationToken).ConfigureAwait(false);
        migration.Continued = true;
    }

    // QEMU stopped the vCPUs and drained its block layer; the path switcher must hold nothing in flight either.
    private static async Task DrainAsync(HostVm vm, CancellationToken cancellationToken)
    {
        var switcher = vm.RequireSwitcher();
        var waited = Stopwatch.StartNew();
        while (switcher.InFlight > 0)
        {
            if (waited.Elapsed > DrainTimeout)
                throw new HostOperationException($"{switcher.InFlight} disk request(s) of VM '{vm.Id}' still in flight at pre-switchover");
            await Task.Delay(1, cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task<object> ContinueAsync(ContinueVmMigration command, CancellationToken cancellationToken)
    {
        const string operation = HostOperationNames.ContinueMemory;
        if (_host.Find(command.HostId, command.VmId) is { } problem)
            return _host.Failed(command.MigrationId, command.VmId, operation, problem, command.Attempt);
        var vm = _vms[command.VmId];
        var key = new OperationKey(command.MigrationId, command.Attempt);
        using var _ = await vm.LockAsync(cancellationToken).ConfigureAwait(false);
        if (vm.Outgoing is not { } migration || migration.Key != key)
            return _host.Failed(command.MigrationId, vm.Id, operation, $"VM '{vm.Id}' has no memory migration of attempt {key}", command.Attempt);
        if (migration.Completed is { } answered)
            return answered;
        if (migration.CancelRequested)
            return _host.Failed(command.MigrationId, vm.Id, operation, $"VM '{vm.Id}' runs here again: its memory migration of attempt {key} was rolled back", command.Attempt);
        try
        {
            var state = await QmpMigration.QueryAsync(migration.Qmp, cancellationToken).ConfigureAwait(false);
            if (state.Status == "pre-switchover" && !migration.Continued)
            {
                await migration.Qmp.ExecuteAsync("migrate-continue", new Dictionary<string, object?> { ["state"] = "pre-switchover" }, cancellationToken).ConfigureAwait(false);
                migration.Continued = true;
            }

            // Continued here or at pre-switchover already (ContinueAtSwitchover): either way, its end is the answer.
            // Post-copy ends when the last page reached the destination; a broken link pauses it (QEMU keeps both sides).
            if (migration.Continued && !state.IsOver)
                state = await migration.WaitForAsync(s => s.IsOver || s.Status == "postcopy-paused", ContinueTimeout, cancellationToken).ConfigureAwait(false);

            if (state.Status == "postcopy-paused")
                throw new HostOperationException($"QEMU's memory post-copy is paused: the link to the destination stayed broken past the recovery window ({_options.MigrationRecoveryWindow.TotalSeconds:0.#} s); " +
                                                 $"the VM runs there and waits for {state.Remaining} bytes of memory still here (this host's QEMU keeps them)");
            if (state.Status != "completed")
                throw new HostOperationException($"QEMU's memory migration is '{state.Status}', not completed{(state.Error is null ? "" : ": " + state.Error)}");
            state = await migration.CompletedFiguresAsync(state, cancellationToken).ConfigureAwait(false);
            migration.Completed = new VmMemoryMigrated(command.MigrationId, vm.Id, _options.HostId, state.Transferred, state.Downtime ?? 0, _clock.GetUtcNow(), command.Attempt,
                migration.PostCopyStarted, state.PostCopyBytes);
            return migration.Completed;
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            return await _host.FailedAsync(vm, command.MigrationId, operation, e, command.Attempt).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Before a ResumeVm's 'cont' on the source (rollback): an outgoing memory migration still under way is cancelled
    /// and QEMU waited for until it says so (after 'completed' the VM is postmigrate, and 'cont' runs it again).
    /// </summary>
    internal static async Task CancelOutgoingAsync(HostVm vm, CancellationToken cancellationToken)
    {
        if (vm.Outgoing is not { } migration)
            return;
        var state = await QmpMigration.QueryAsync(migration.Qmp, cancellationToken).ConfigureAwait(false);
        if (state.Status == "none")
            return;
        // Post-copy continued: the destination may run with pages only this QEMU holds; running both would fork the VM.
        if (migration.PostCopyStarted && migration.Continued)
            throw new HostOperationException($"VM '{vm.Id}''s memory went post-copy (attempt {migration.Key}): it runs on the destination now and cannot resume here");
        // The source runs again: even a completed migration (continued at pre-switchover) is undone, never reported as moved.
        migration.CancelRequested = true;
        if (state.IsOver)
            return;
        await migration.Qmp.ExecuteAsync("migrate_cancel", null, cancellationToken).ConfigureAwait(false);
        await migration.WaitForAsync(s => s.IsOver, CancelTimeout, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Quits the source QEMU of a VM whose memory moved (never one that still runs here).</summary>
    public async Task<object> StopSourceAsync(StopSourceVm command, CancellationToken cancellationToken)
    {
        var key = new OperationKey(command.MigrationId, command.Attempt);
        if (_host.Find(command.HostId, command.VmId) is { } problem)
            return _host.Failed(command.MigrationId, command.VmId, HostOperationNames.StopSource, problem, command.Attempt);
        var vm = _vms[command.VmId];
        using var _ = await vm.LockAsync(cancellationToken).ConfigureAwait(false);
        if (_stopped.TryGetValue(vm.Id, out var stopped) && stopped.Key == key)
            return new SourceVmStopped(command.MigrationId, vm.Id, _options.HostId, stopped.At, command.Attempt);
        try
        {
            var hypervisor = await vm.HypervisorAsync(cancellationToken).ConfigureAwait(false);
            var status = await hypervisor.QueryStatusAsync(cancellationToken).ConfigureAwait(false);
            if (status.State != "postmigrate")
                throw new HostOperationException($"VM '{vm.Id}' is {status.State}, not postmigrate: only a VM whose memory moved away is stopped");
            await ((QmpHypervisor)hypervisor).Client.ExecuteAsync("quit", null, cancellationToken).ConfigureAwait(false);
        }
        catch (QmpConnectionException)
        {
            // QEMU is gone already (an earlier stop whose answer was lost): stopped is what was asked.
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            return await _host.FailedAsync(vm, command.MigrationId, HostOperationNames.StopSource, e, command.Attempt).ConfigureAwait(false);
        }

        await vm.ForgetHypervisorAsync().ConfigureAwait(false);
        if (vm.Incoming is { } incoming)
            await incoming.Qemu.StopAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        var at = _clock.GetUtcNow();
        _stopped[vm.Id] = (key, at);
        return new SourceVmStopped(command.MigrationId, vm.Id, _options.HostId, at, command.Attempt);
    }

}
