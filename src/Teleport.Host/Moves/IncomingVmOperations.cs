using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Teleport.Contracts;
using Teleport.Host.Hypervisor;
using Teleport.Host.Relay;
using Teleport.Host.Switching;
using Teleport.Host.Worker;
using Teleport.Nbd.Exports;
using Teleport.Nbd.Server;

namespace Teleport.Host.Moves;

/// <summary>
/// The destination host's side of a whole-VM move: PrepareIncomingVm starts the VM's QEMU paused and listening for
/// memory, its disk behind a path switcher of its own; DiscardIncomingVm undoes that; a ResumeVm first points the
/// disk path at the destination storage (<see cref="AttachAsync"/>). Nothing here survives a host worker restart.
/// </summary>
public sealed class IncomingVmOperations(HostWorkerOptions options, ConcurrentDictionary<string, HostVm> vms, HostOperations host, TimeProvider clock,
    ILoggerFactory loggers)
{
    private static readonly TimeSpan QemuStartTimeout = TimeSpan.FromSeconds(30);
    private readonly HostWorkerOptions _options = options;
    private readonly ConcurrentDictionary<string, HostVm> _vms = vms;
    private readonly HostOperations _host = host;
    private readonly TimeProvider _clock = clock;
    private readonly ILoggerFactory _loggers = loggers;
    private readonly SemaphoreSlim _lock = new(1, 1);

    public async Task<object> PrepareAsync(PrepareIncomingVm command, CancellationToken cancellationToken)
    {
        const string operation = HostOperationNames.PrepareIncoming;
        if (Refusal(command) is { } refused)
            return _host.Failed(command.MigrationId, command.VmId, operation, refused, command.Attempt);
        var key = new OperationKey(command.MigrationId, command.Attempt);
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_vms.TryGetValue(command.VmId, out var present))
            {
                if (present.Incoming is { Attached: false } same && same.Key == key && !same.Qemu.HasExited)
                    return Prepared(command, same);
                if (!present.NeverResumedIncoming)
                    return _host.Failed(command.MigrationId, command.VmId, operation, $"VM '{command.VmId}' already runs on host '{_options.HostId}'", command.Attempt);
                await ForgetAsync(present).ConfigureAwait(false);
            }

            var vm = await StartAsync(command, key, cancellationToken).ConfigureAwait(false);
            _vms[vm.Id] = vm;
            return Prepared(command, vm.Incoming!);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            string reason = e is QmpException or QmpConnectionException or TimeoutException ? $"QEMU: {e.Message}" : e.Message;
            return _host.Failed(command.MigrationId, command.VmId, operation, $"the incoming VM did not start: {reason}", command.Attempt);
        }
        finally
        {
            _lock.Release();
        }
    }

    private IncomingVmPrepared Prepared(PrepareIncomingVm command, IncomingVm incoming) =>
        new(command.MigrationId, command.VmId, _options.HostId, incoming.Endpoint, incoming.PreparedAt, command.Attempt);

    private string? Refusal(PrepareIncomingVm command)
    {
        if (!string.Equals(command.HostId, _options.HostId, StringComparison.Ordinal))
            return $"the command names host '{command.HostId}' but reached host '{_options.HostId}'";
        if (!HostWorkerOptions.IsSafeId(command.VmId) || !HostWorkerOptions.IsSafeId(command.StorageId))
            return $"VM id '{command.VmId}' and storage id '{command.StorageId}' must be 1-128 letters, digits, '.', '_' or '-'";
        if (string.IsNullOrEmpty(command.ExportName) || command.ExportName.Length > 256 || command.ExportName.Any(c => c == ',' || char.IsControl(c)))
            return $"export name '{command.ExportName}' must be 1-256 characters without commas or control characters";
        if (VmDefinitionValidator.Check(command.Definition, _options) is { } problem)
            return $"the VM definition is refused: {problem}";
        if (QmpMigration.OptionsProblem(command.Memory) is { } memory)
            return memory;
        // The disk leads only where this host's configuration says the storage is, never to the message's endpoint.
        return _host.Upstreams.TryResolve(command.StorageId, command.NbdEndpoint, out _, out string unknown) ? null : unknown;
    }

    private async Task<HostVm> StartAsync(PrepareIncomingVm command, OperationKey key, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(_options.StateDirectory);
        string state = Path.Combine(_options.StateDirectory, command.VmId);
        string qmp = state + ".qmp", disk = state + ".disk", relaySocket = state + ".relay", memorySocket = MemoryRelays.SocketPath(_options, command.VmId);
        foreach (string stale in new[] { qmp, disk, relaySocket, memorySocket })
            File.Delete(stale);
        if (!_host.Upstreams.TryResolve(command.StorageId, command.NbdEndpoint, out var storage, out string unknown))
            throw new InvalidOperationException(unknown);
        var definition = command.Definition;
        var registry = new NbdExportRegistry();
        registry.Add(new UnattachedDiskExport(command.ExportName, definition.DiskBytes));
        var relay = new NbdServer(registry, null, _loggers.CreateLogger<NbdServer>());
        relay.Listen(new UnixDomainSocketEndPoint(relaySocket));
        var vm = new HostVm(command.VmId, new HostVmOptions
        {
            QmpSocket = qmp, DiskListen = $"unix:{disk}", StorageId = command.StorageId,
            Upstream = $"unix:{relaySocket}", Export = command.ExportName, Definition = definition,
        }, _options, _loggers);
        QemuLauncher? qemu = null;
        IncomingMemoryRelay? memory = null;
        try
        {
            await vm.StartAsync(cancellationToken).ConfigureAwait(false);
            _ = vm.RequireSwitcher();
            qemu = await QemuLauncher.StartAsync(_options.QemuBinary, Arguments(definition, qmp, disk, command.ExportName), qmp,
                state + ".console.log", QemuStartTimeout, cancellationToken).ConfigureAwait(false);
            await ListenAsync(vm, command.Memory, memorySocket, cancellationToken).ConfigureAwait(false);
            memory = MemoryRelays.StartIncoming(_options, command.VmId, memorySocket, _host.Log);
            string endpoint = new TcpAddress(_options.MigrationAdvertise ?? ListenHost(), memory.Port).ToString();
            vm.Incoming = new IncomingVm(key, qemu, relay, memory, storage, command.ExportName, endpoint, _clock.GetUtcNow());
            return vm;
        }
        catch
        {
            await vm.DisposeAsync().ConfigureAwait(false);
            if (qemu is not null)
                await qemu.DisposeAsync().ConfigureAwait(false);
            if (memory is not null)
                await memory.DisposeAsync().ConfigureAwait(false);
            await relay.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    // The definition's machine and devices, the disk through this host's path switcher, paused and waiting.
    private static List<string> Arguments(VmDefinition definition, string qmp, string disk, string exportName) =>
    [
        .. definition.Arguments,
        "-blockdev", $"driver=nbd,node-name={definition.DiskNodeName},server.type=unix,server.path={disk},export={exportName},cache.direct=on",
        "-S", "-incoming", "defer", "-qmp", $"unix:{qmp},server=on,wait=off",
    ];

    // QEMU listens on a Unix socket of this host only; the memory relay takes the WAN side (Host:MigrationListen).
    private static async Task ListenAsync(HostVm vm, MemoryMigrationOptions? memory, string socket, CancellationToken cancellationToken)
    {
        var qmp = ((QmpHypervisor)await vm.HypervisorAsync(cancellationToken).ConfigureAwait(false)).Client;
        await QmpMigration.SetCapabilitiesAsync(qmp, source: false, memory, cancellationToken).ConfigureAwait(false);
        await QmpMigration.SetStreamParametersAsync(qmp, memory, cancellationToken).ConfigureAwait(false);
        await qmp.ExecuteAsync("migrate-incoming", new Dictionary<string, object?> { ["uri"] = $"unix:{socket}" }, cancellationToken).ConfigureAwait(false);
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(socket, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    private string ListenHost()
    {
        TcpAddress.TryParse(_options.MigrationListen, out var listen);
        return listen.Host;
    }

    /// <summary>
    /// Before 'cont' on an incoming VM: its disk path leaves the relay for the destination storage's export while its
    /// memory finishes arriving (the saga sends ResumeVm with the source's ContinueVmMigration: 'cont' follows the
    /// stream's end at once, without a hop through the saga).
    /// </summary>
    internal static async Task AttachAsync(HostVm vm, IHypervisor hypervisor, ILogger log, CancellationToken cancellationToken)
    {
        if (vm.Incoming is not { Attached: false } incoming)
            return;
        // Either failing ends both: a disk that cannot attach must not wait for the stream, nor the reverse.
        using var both = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        // Which of the two 'cont' waits for is what the guest's downtime is made of: each is logged as it is ready.
        long began = Stopwatch.GetTimestamp();
        var attach = Timed(SwitchToStorageAsync(vm, incoming, both.Token), vm.Id, "disk", began, log);
        var memory = Timed(WaitForMemoryAsync(hypervisor, incoming.Key, both.Token), vm.Id, "memory", began, log);
        var first = await Task.WhenAny(attach, memory).ConfigureAwait(false);
        if (!first.IsCompletedSuccessfully)
        {
            await both.CancelAsync().ConfigureAwait(false);
            await Task.WhenAny(first == attach ? memory : attach).ConfigureAwait(false);
            await first.ConfigureAwait(false);
        }

        await Task.WhenAll(attach, memory).ConfigureAwait(false);
        await incoming.CloseRelayAsync().ConfigureAwait(false);
        incoming.Attached = true;
    }

    private static async Task Timed(Task part, string vmId, string name, long began, ILogger log)
    {
        await part.ConfigureAwait(false);
        HostWorkerLog.IncomingPartReady(log, vmId, name, Stopwatch.GetElapsedTime(began).TotalMilliseconds);
    }

    private static async Task SwitchToStorageAsync(HostVm vm, IncomingVm incoming, CancellationToken cancellationToken)
    {
        var switcher = vm.RequireSwitcher();
        var target = new UpstreamTarget(await incoming.Storage.ResolveAsync(cancellationToken).ConfigureAwait(false), incoming.ExportName);
        if (switcher.Current != target)
            await switcher.SwitchAsync(target, cancellationToken).ConfigureAwait(false);
    }

    // QEMU ends a failed incoming stream by exiting (the query then fails); a stream that never comes is bounded here
    // (what is left after migrate-continue is at most QEMU's downtime-limit's worth of memory and the devices). In
    // post-copy the VM may run before the rest of its memory is here: 'cont' then starts it as soon as QEMU has the devices.
    private static readonly TimeSpan IncomingMemoryTimeout = TimeSpan.FromMinutes(2);

    private static async Task WaitForMemoryAsync(IHypervisor hypervisor, OperationKey key, CancellationToken cancellationToken)
    {
        if (hypervisor is not QmpHypervisor qmp)
            throw new HostOperationException("the incoming VM is not controlled over QMP");
        using var memory = new MemoryMigration(key, qmp.Client);
        var state = await memory.WaitForAsync(s => s.IsOver || s.IsPostCopy, IncomingMemoryTimeout, cancellationToken).ConfigureAwait(false);
        if (state.Status != "completed" && !state.IsPostCopy)
            throw new HostOperationException($"the incoming memory stream ended '{state.Status}'{(state.Error is null ? "" : ": " + state.Error)}");
    }

    /// <summary>
    /// An incoming VM whose resume failed (its memory stream, its disk or 'cont') is stopped before the failure is
    /// answered: the saga rolls back to the source on that answer, so this QEMU must never run, not even on a repeated ResumeVm.
    /// </summary>
    internal static async Task StopUnresumedAsync(HostVm vm)
    {
        if (vm.NeverResumedIncoming)
            await vm.Incoming!.Qemu.DisposeAsync().ConfigureAwait(false);
    }

    public async Task<object> DiscardAsync(DiscardIncomingVm command, CancellationToken cancellationToken)
    {
        const string operation = HostOperationNames.DiscardIncoming;
        if (!string.Equals(command.HostId, _options.HostId, StringComparison.Ordinal))
            return _host.Failed(command.MigrationId, command.VmId, operation, $"the command names host '{command.HostId}' but reached host '{_options.HostId}'", command.Attempt);
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (command.VmId is not null && _vms.TryGetValue(command.VmId, out var vm))
            {
                if (!vm.NeverResumedIncoming)
                    return _host.Failed(command.MigrationId, command.VmId, operation, $"VM '{command.VmId}' runs on host '{_options.HostId}'; only an incoming VM is discarded", command.Attempt);
                await ForgetAsync(vm).ConfigureAwait(false);
            }

            return new IncomingVmDiscarded(command.MigrationId, command.VmId ?? "", _options.HostId, _clock.GetUtcNow(), command.Attempt);
        }
        finally
        {
            _lock.Release();
        }
    }

    private async Task ForgetAsync(HostVm vm)
    {
        _vms.TryRemove(new KeyValuePair<string, HostVm>(vm.Id, vm));
        await vm.DisposeAsync().ConfigureAwait(false);
    }
}
