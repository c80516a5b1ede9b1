using System.Collections.Concurrent;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Teleport.Contracts;
using Teleport.Host.Moves;
using Teleport.Host.Switching;
using Teleport.Messaging;

namespace Teleport.Host.Worker;

/// <summary>
/// One host worker without a bus of its own: its VMs (hypervisor + path switcher each), started and stopped with
/// the host, and the operations its bus endpoint runs. Upstream trouble outside a switch is logged and published
/// as HostOperationFailed (operation "upstream", no migration: <see cref="Guid.Empty"/>) on the container's bus.
/// </summary>
public sealed class HostWorkerNode : IHostedService, IAsyncDisposable
{
    /// <summary>The Operation of the HostOperationFailed that reports a lost upstream.</summary>
    public const string UpstreamOperation = HostOperationNames.Upstream;

    private readonly IServiceProvider _services;
    private readonly ConcurrentDictionary<string, HostVm> _vms;
    private readonly TimeProvider _clock;
    private readonly ILogger _log;
    private readonly ILoggerFactory _loggers;
    private readonly CancellationTokenSource _stopping = new();
    private int _disposed;

    public HostWorkerNode(HostWorkerOptions options, IServiceProvider services, ILoggerFactory loggers, TimeProvider clock)
    {
        options.Validate();
        Options = options;
        _services = services;
        _clock = clock;
        _log = loggers.CreateLogger<HostWorkerNode>();
        _loggers = loggers;
        _vms = new(options.Vms.Select(v => KeyValuePair.Create(v.Key, new HostVm(v.Key, v.Value, options, loggers))), StringComparer.Ordinal);
        foreach (var vm in _vms.Values)
            vm.UpstreamChanged += OnUpstreamChanged;
        Operations = new HostOperations(options, _vms, clock, loggers.CreateLogger<HostOperations>());
        Incoming = new IncomingVmOperations(options, _vms, Operations, clock, loggers);
        Memory = new MemoryMigrationOperations(options, _vms, Operations, clock);
        var bus = new PersistentBus(clock, _log)
        {
            Publish = report => _services.GetService<IBus>() is { } bus ? bus.Publish(report, report.GetType()) : Task.CompletedTask,
            SendToStorage = SendToStorageAsync,
        };
        Operations.Guard.Bus = bus;
        CutOver = new LocalCutOver(Operations, _vms, bus, options.SendFinalSync, loggers.CreateLogger<LocalCutOver>());
        Operations.BeforeResume = async (vm, hypervisor, cancellationToken) =>
        {
            await MemoryMigrationOperations.CancelOutgoingAsync(vm, cancellationToken).ConfigureAwait(false);
            await IncomingVmOperations.AttachAsync(vm, hypervisor, _log, cancellationToken).ConfigureAwait(false);
        };
        Operations.ResumeFailed = IncomingVmOperations.StopUnresumedAsync;
    }

    public HostWorkerOptions Options { get; }

    public string HostId => Options.HostId;

    public IReadOnlyDictionary<string, HostVm> Vms => _vms;

    public HostOperations Operations { get; }

    /// <summary>Fenced storage-only cut-overs this host carries itself (PauseVm.CutOverVolumeId).</summary>
    internal LocalCutOver CutOver { get; }

    /// <summary>The destination side of whole-VM moves (incoming VMs).</summary>
    public IncomingVmOperations Incoming { get; }

    /// <summary>The source side of whole-VM moves (describe, memory migration, stop).</summary>
    public MemoryMigrationOperations Memory { get; }

    /// <summary>The cut-over's rehearsal started with the node (<see cref="HostWorkerOptions.Rehearse"/>), or null.</summary>
    internal Task<RehearsalOutcome>? Rehearsal { get; private set; }

    /// <summary>For tests: how the rehearsal's QMP peer behaves.</summary>
    internal RehearsalScript RehearsalScript { get; set; } = RehearsalScript.Faithful;

    /// <summary>
    /// Starts every VM's path switcher (one whose upstream is down keeps trying in the background), then the cut-over's
    /// rehearsal in the background: nothing waits for it.
    /// </summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await Task.WhenAll(_vms.Values.Select(vm => vm.StartAsync(cancellationToken))).ConfigureAwait(false);
        if (Options.Rehearse && _vms.Count > 0)
            Rehearsal = Task.Run(() => CutOverRehearsal.RunAsync(Options, _loggers, RehearsalScript, _stopping.Token), CancellationToken.None);
    }

    public Task StopAsync(CancellationToken cancellationToken) => DisposeAsync().AsTask();

    private void OnUpstreamChanged(HostVm vm, UpstreamEvent e)
    {
        string reason = e.Error?.Message ?? "";
        if (e.Kind == UpstreamEventKind.Restored)
        {
            HostWorkerLog.UpstreamRestored(_log, vm.Id, e.Target, e.Attempt);
            return;
        }

        HostWorkerLog.UpstreamTrouble(_log, vm.Id, e.Target, e.Kind, e.Attempt, reason);
        if (e.Kind == UpstreamEventKind.Lost)
            _ = ReportLostAsync(vm, e, reason);
    }

    private async Task ReportLostAsync(HostVm vm, UpstreamEvent e, string reason)
    {
        try
        {
            if (_services.GetService<IBus>() is { } bus)
            {
                await bus.Publish(new HostOperationFailed(Guid.Empty, vm.Id, HostId, UpstreamOperation,
                    $"upstream {e.Target} of storage {vm.CurrentStorageId} lost ({reason}); reconnecting", _clock.GetUtcNow())).ConfigureAwait(false);
            }
        }
        catch (Exception failure)
        {
            HostWorkerLog.ReportFailed(_log, failure, vm.Id);
        }
    }

    // A command of the host's own (the local cut-over's FinalSync) to a storage worker's queue, addressed as the bus's queues need.
    private async Task SendToStorageAsync(string storageId, object command)
    {
        if (_services.GetService<IBus>() is not { } bus)
            return;
        var addresses = _services.GetService<CommandAddresses>() ?? CommandAddresses.Classic;
        var endpoint = await bus.GetSendEndpoint(addresses.For(WorkerQueues.Storage(storageId))).ConfigureAwait(false);
        await endpoint.Send(command, command.GetType()).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (Rehearsal is { } rehearsal)
            await rehearsal.ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default).ConfigureAwait(false);
        await CutOver.DisposeAsync().ConfigureAwait(false);
        await Operations.Guard.DisposeAsync().ConfigureAwait(false);
        foreach (var vm in _vms.Values)
            await vm.DisposeAsync().ConfigureAwait(false);
        _stopping.Dispose();
    }
}
