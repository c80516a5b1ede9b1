using MassTransit;
using Teleport.Contracts;

namespace Teleport.Orchestrator;

/// <summary>
/// The commands the saga sends and the events it publishes, each built in one place: a first send and a nudge's
/// re-send are the same message. Commands go to the worker's own queue.
/// </summary>
public static class SagaCommands
{
    public static EventActivityBinder<MigrationState, T> SendPrepare<T>(this EventActivityBinder<MigrationState, T> binder)
        where T : class =>
        binder.SendToStorage(s => s.DestinationStorageId, s => new PrepareDestination(
            s.CorrelationId, s.VolumeId, s.SourceStorageId, s.DestinationStorageId, s.Options, s.Attempt, s.HostId));

    public static EventActivityBinder<MigrationState, T> SendStartTransfer<T>(this EventActivityBinder<MigrationState, T> binder)
        where T : class =>
        binder.SendToStorage(s => s.SourceStorageId, s => new StartTransfer(
            s.CorrelationId, s.VolumeId, s.SourceStorageId, s.DestinationStorageId,
            s.Run.DataEndpoint!, s.Run.Secret!, s.Run.CertificateSha256, s.Options, s.Attempt));

    // A fenced storage-only cut-over is carried by the host itself (CutOverVolumeId): no broker hop inside the pause.
    public static EventActivityBinder<MigrationState, T> SendPauseVm<T>(this EventActivityBinder<MigrationState, T> binder)
        where T : class =>
        binder.SendToHost(s => new PauseVm(s.CorrelationId, s.VmId, s.HostId, s.Attempt,
            s.DestinationStorageId, s.Run.NbdEndpoint, s.Run.ExportName, ((MigrationStateMachine)binder.StateMachine).Schedule.PauseBudgetMilliseconds,
            s.LocalCutOver ? s.VolumeId : null));

    // The destination told where its export of the volume is (DestinationPrepared): the host repoints there.
    public static EventActivityBinder<MigrationState, T> SendSwitchTarget<T>(this EventActivityBinder<MigrationState, T> binder)
        where T : class =>
        binder.SendToHost(s => new SwitchTarget(
            s.CorrelationId, s.VmId, s.HostId, s.VolumeId, s.DestinationStorageId, s.Run.NbdEndpoint!, s.Run.ExportName!, s.Attempt));

    public static EventActivityBinder<MigrationState, T> SendFinalSync<T>(this EventActivityBinder<MigrationState, T> binder)
        where T : class =>
        binder.SendToStorage(s => s.SourceStorageId, s => new FinalSync(s.CorrelationId, s.VolumeId, s.SourceStorageId, s.Attempt));

    // Forward, the host resumes only a VM whose path leads to the destination (not one it already returned to the source);
    // in a rollback, wherever the path leads.
    public static EventActivityBinder<MigrationState, T> SendResumeVm<T>(this EventActivityBinder<MigrationState, T> binder, bool onDestination = false)
        where T : class =>
        binder.SendToHost(s => new ResumeVm(s.CorrelationId, s.VmId, s.HostId, s.Attempt, onDestination ? s.DestinationStorageId : null));

    // Whole-VM moves: the source host describes the VM, the destination host starts its incoming QEMU with the disk behind
    // its own path switcher, whose upstream is the destination storage's export of the volume.
    public static EventActivityBinder<MigrationState, T> SendDescribeVm<T>(this EventActivityBinder<MigrationState, T> binder)
        where T : class =>
        binder.SendToHost(s => new DescribeVm(s.CorrelationId, s.VmId, s.HostId, s.Attempt));

    // Sent as soon as the VM is described, usually before the destination storage is prepared: its export is then named
    // after the volume (as storage workers export it; a DestinationPrepared naming another rolls back), and the endpoint
    // is left empty (the host connects only where its configuration puts the storage).
    public static EventActivityBinder<MigrationState, T> SendPrepareIncomingVm<T>(this EventActivityBinder<MigrationState, T> binder)
        where T : class =>
        binder.Then(c => c.Saga.Run.IncomingRequested = true).SendToHost(s => s.DestinationHostId!, s => new PrepareIncomingVm(
            s.CorrelationId, s.VmId, s.DestinationHostId!, s.HostId, s.Run.Definition!, s.DestinationStorageId,
            s.Run.NbdEndpoint ?? "", s.Run.ExportName ?? s.VolumeId, s.Attempt, s.MemoryOptions));

    // Fenced: the source host runs migrate-continue at pre-switchover itself (the disk's tail does not hold the pause).
    public static EventActivityBinder<MigrationState, T> SendMigrateVmMemory<T>(this EventActivityBinder<MigrationState, T> binder)
        where T : class =>
        binder.SendToHost(s => new MigrateVmMemory(
            s.CorrelationId, s.VmId, s.HostId, s.DestinationHostId!, s.Run.MigrationEndpoint!, s.OptionBandwidthBytesPerSecond,
            s.MemoryOptions, s.Attempt, ContinueAtSwitchover: s.OptionFencedCutover));

    public static EventActivityBinder<MigrationState, T> SendContinueVmMigration<T>(this EventActivityBinder<MigrationState, T> binder)
        where T : class =>
        binder.SendToHost(s => new ContinueVmMigration(s.CorrelationId, s.VmId, s.HostId, s.Attempt));

    // `cont` on the incoming VM: its VmResumed is the point of no return.
    public static EventActivityBinder<MigrationState, T> SendResumeOnDestination<T>(this EventActivityBinder<MigrationState, T> binder)
        where T : class =>
        binder.SendToHost(s => s.DestinationHostId!, s => new ResumeVm(s.CorrelationId, s.VmId, s.DestinationHostId!, s.Attempt));

    public static EventActivityBinder<MigrationState, T> SendDiscardIncomingVm<T>(this EventActivityBinder<MigrationState, T> binder)
        where T : class =>
        binder.SendToHost(s => s.DestinationHostId!, s => new DiscardIncomingVm(s.CorrelationId, s.VmId, s.DestinationHostId!, s.Attempt));

    public static EventActivityBinder<MigrationState, T> SendStopSourceVm<T>(this EventActivityBinder<MigrationState, T> binder)
        where T : class =>
        binder.SendToHost(s => new StopSourceVm(s.CorrelationId, s.VmId, s.HostId, s.Attempt));

    public static EventActivityBinder<MigrationState, T> SendSwitchBack<T>(this EventActivityBinder<MigrationState, T> binder)
        where T : class =>
        binder.SendToHost(s => new SwitchBack(s.CorrelationId, s.VmId, s.HostId, s.VolumeId, s.SourceStorageId, s.Attempt));

    // AbortTransfer to one storage side, with the failure as its reason.
    public static EventActivityBinder<MigrationState, T> SendSourceAbort<T>(this EventActivityBinder<MigrationState, T> binder)
        where T : class =>
        binder.SendToStorage(s => s.SourceStorageId, s => Abort(s, s.SourceStorageId));

    public static EventActivityBinder<MigrationState, T> SendDestinationAbort<T>(this EventActivityBinder<MigrationState, T> binder)
        where T : class =>
        binder.SendToStorage(s => s.DestinationStorageId, s => Abort(s, s.DestinationStorageId));

    /// <summary>MigrationSucceeded for other systems, and ReleaseSourceVolume to the source storage worker.</summary>
    public static EventActivityBinder<MigrationState, T> PublishSucceeded<T>(this EventActivityBinder<MigrationState, T> binder)
        where T : class =>
        binder.Publish(c => new MigrationSucceeded(
            c.Saga.CorrelationId, c.Saga.VmId, c.Saga.VolumeId, c.Saga.DestinationStorageId, c.Saga.Run.VolumeBytes,
            c.Saga.Run.BytesOnWire, c.Saga.Run.BlocksFromIndex, c.Saga.Run.Rounds, c.Saga.Run.DowntimeMilliseconds ?? 0,
            c.Saga.Run.SucceededAt!.Value, c.Saga.DestinationHostId, c.Saga.Run.MemoryBytes,
            c.Saga.Run.QemuDowntimeMilliseconds ?? 0, c.Saga.Run.StorageDowntimeMilliseconds ?? 0, c.Saga.Run.PredictedDowntimeMilliseconds,
            c.Saga.Run.PostCopy))
            // The destination is authoritative now: the source turns its old volume into a retained copy (or keeps it).
            .SendToStorage(s => s.SourceStorageId, s => new ReleaseSourceVolume(s.CorrelationId, s.VolumeId, s.SourceStorageId, s.Attempt));

    public static EventActivityBinder<MigrationState, T> PublishFailed<T>(this EventActivityBinder<MigrationState, T> binder)
        where T : class =>
        binder.Publish(c => new MigrationFailed(
            c.Saga.CorrelationId, c.Saga.VmId, c.Saga.Run.FailedPhase ?? "", c.Saga.Run.FailureReason ?? "", c.Saga.Run.FailedAt!.Value,
            c.Saga.Run.PostCopy));

    // Commands go to the worker's own queue (WorkerQueues), named after its id, addressed as the queue type needs.
    private static EventActivityBinder<MigrationState, T> SendToStorage<T, TCommand>(
        this EventActivityBinder<MigrationState, T> binder, Func<MigrationState, string> storageId, Func<MigrationState, TCommand> command)
        where T : class
        where TCommand : class =>
        binder.Send(c => SagaTransitions.Machine(binder).Addresses.For(WorkerQueues.Storage(storageId(c.Saga))), c => command(c.Saga));

    // The VM's (source) host, unless another host is named.
    private static EventActivityBinder<MigrationState, T> SendToHost<T, TCommand>(
        this EventActivityBinder<MigrationState, T> binder, Func<MigrationState, TCommand> command)
        where T : class
        where TCommand : class =>
        binder.SendToHost(s => s.HostId, command);

    private static EventActivityBinder<MigrationState, T> SendToHost<T, TCommand>(
        this EventActivityBinder<MigrationState, T> binder, Func<MigrationState, string> hostId, Func<MigrationState, TCommand> command)
        where T : class
        where TCommand : class =>
        binder.Send(c => SagaTransitions.Machine(binder).Addresses.For(WorkerQueues.Host(hostId(c.Saga))), c => command(c.Saga));

    private static AbortTransfer Abort(MigrationState saga, string storageId) =>
        new(saga.CorrelationId, saga.VolumeId, storageId, saga.Run.FailureReason ?? "", saga.Attempt);
}
