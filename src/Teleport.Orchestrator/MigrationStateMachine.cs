using System.Linq.Expressions;
using System.Text.RegularExpressions;
using MassTransit;
using Microsoft.Extensions.Logging;
using Teleport.Contracts;

namespace Teleport.Orchestrator;

/// <summary>
/// The migration saga: one instance per MigrationId, driving the workers through prepare, index, request, copy
/// rounds and cut-over, and rolling back to the source on any fault, deadline or cancel before the VM resumes on
/// the destination. Pure decisions: it only records, sends and publishes (the repository and outbox do the I/O).
/// docs/saga.md has the state table.
/// </summary>
public sealed partial class MigrationStateMachine : MassTransitStateMachine<MigrationState>
{
    private readonly MigrationSettings _settings;
    private readonly TimeProvider _clock;
    private readonly MigrationMetrics _metrics;

    public MigrationStateMachine(MigrationSettings settings, TimeProvider clock, ILogger<MigrationStateMachine> logger, MigrationMetrics metrics)
    {
        _settings = settings;
        _clock = clock;
        _metrics = metrics;

        InstanceState(x => x.CurrentState);
        ConnectStateObserver(new MigrationStateLogger(logger, metrics));

        Event(() => MigrationRequested, x => x.CorrelateById(m => m.Message.MigrationId));
        Correlate(() => DestinationPrepared, m => m.MigrationId);
        Correlate(() => IndexStreamed, m => m.MigrationId);
        Correlate(() => BlocksRequested, m => m.MigrationId);
        Correlate(() => CopyRoundCompleted, m => m.MigrationId);
        Correlate(() => DirtyBelowThreshold, m => m.MigrationId);
        Correlate(() => VmPaused, m => m.MigrationId);
        Correlate(() => TargetSwitched, m => m.MigrationId);
        Correlate(() => MigrationCompleted, m => m.MigrationId);
        Correlate(() => VmResumed, m => m.MigrationId);
        Correlate(() => TargetSwitchedBack, m => m.MigrationId);
        Correlate(() => TransferFailed, m => m.MigrationId);
        Correlate(() => HostOperationFailed, m => m.MigrationId);
        Correlate(() => TransferAborted, m => m.MigrationId);
        Correlate(() => DeadlineExpired, m => m.MigrationId);
        Correlate(() => Nudged, m => m.MigrationId);
        // Commands about an unknown migration are an operator's mistake: fault them so they show in _error.
        Event(() => CancelMigration, x => { x.CorrelateById(m => m.Message.MigrationId); x.OnMissingInstance(m => m.Fault()); });
        Event(() => RetryMigration, x => { x.CorrelateById(m => m.Message.MigrationId); x.OnMissingInstance(m => m.Fault()); });

        // Entering a state sets its phase, deadline and nudge time; leaving it for another replaces them.
        WhenEnter(Preparing, x => x.Then(c => Enter(c.Saga, MigrationPhases.Prepare, _settings.PrepareTimeout, nameof(Preparing))));
        WhenEnter(Indexing, x => x.Then(c => Enter(c.Saga, MigrationPhases.Index, _settings.IndexAndRequestTimeout, nameof(Indexing))));
        WhenEnter(Requesting, x => x.Then(c => Enter(c.Saga, MigrationPhases.Request, _settings.IndexAndRequestTimeout, nameof(Requesting))));
        WhenEnter(Copying, x => x.Then(c => Enter(c.Saga, MigrationPhases.Copy, _settings.CopyTimeout, nameof(Copying))));
        WhenEnter(Pausing, x => x.Then(c => Enter(c.Saga, MigrationPhases.CutOver, _settings.CutOverTimeout, nameof(Pausing))));
        WhenEnter(Switching, x => x.Then(c => Enter(c.Saga, MigrationPhases.CutOver, _settings.CutOverTimeout, nameof(Switching))));
        WhenEnter(Resuming, x => x.Then(c => Enter(c.Saga, MigrationPhases.CutOver, _settings.CutOverTimeout, nameof(Resuming))));
        WhenEnter(RollingBackSwitch, x => x.Then(c => Enter(c.Saga, MigrationPhases.Rollback, _settings.RollbackTimeout, nameof(RollingBackSwitch))));
        WhenEnter(RollingBackResume, x => x.Then(c => Enter(c.Saga, MigrationPhases.Rollback, _settings.RollbackTimeout, nameof(RollingBackResume))));
        WhenEnter(Succeeded, x => x.Then(c => Enter(c.Saga, MigrationPhases.Succeeded, null, nameof(Succeeded))));
        // A Failed row is nudged only while an AbortTransfer it sent is unacknowledged.
        WhenEnter(Failed, x => x.Then(c => Enter(c.Saga, MigrationPhases.Failed, null, AbortsPending(c.Saga) ? nameof(Failed) : null)));

        Initially(
            StartPrepare(When(MigrationRequested).Then(c => Accept(c.Saga, c.Message))));

        During(Preparing,
            SendStartTransfer(When(DestinationPrepared, c => PreparedProblem(c.Saga, c.Message) is null)
                    .Then(c => RecordPrepared(c.Saga, c.Message)))
                .TransitionTo(Indexing),
            RollBack(When(DestinationPrepared, c => PreparedProblem(c.Saga, c.Message) is not null),
                c => $"unusable DestinationPrepared: {PreparedProblem(c.Saga, c.Message)}"),
            RollBack(When(TransferFailed), c => TransferFailure(c.Message)),
            RollBack(When(DeadlineExpired, c => IsCurrent(c.Saga, c.Message)), c => DeadlineFailure(c.Message)),
            RollBack(When(CancelMigration), c => CancelFailure(c.Message)),
            // The destination answers a duplicate PrepareDestination with its DestinationPrepared again.
            SendPrepare(When(Nudged, c => IsCurrent(c.Saga, c.Message)).Then(c => Renudge(c.Saga))),
            Ignore(MigrationRequested),
            // Answers to commands this attempt has not sent (answers of an earlier attempt never get here: StaleAttemptFilter).
            Ignore(IndexStreamed), Ignore(BlocksRequested), Ignore(CopyRoundCompleted), Ignore(DirtyBelowThreshold),
            Ignore(VmPaused), Ignore(TargetSwitched), Ignore(MigrationCompleted), Ignore(VmResumed),
            Ignore(TargetSwitchedBack), Ignore(TransferAborted), Ignore(HostOperationFailed), Ignore(RetryMigration));

        During(Indexing,
            When(IndexStreamed)
                .Then(c => RecordIndexStreamed(c.Saga, c.Message))
                .IfElse(c => c.Saga.BlocksRequestedSeen, ContinueToCopying, requesting => requesting.TransitionTo(Requesting)),
            // The destination may finish reading the index before the source's event arrives: keep it for later.
            When(BlocksRequested).Then(c => RecordBlocksRequested(c.Saga, c.Message)).Then(c => Progressed(c.Saga)),
            When(CopyRoundCompleted, c => c.Message.Round > c.Saga.Rounds).Then(c => RecordRound(c.Saga, c.Message)).Then(c => Progressed(c.Saga)),
            When(DirtyBelowThreshold).Then(c => RecordThreshold(c.Saga, c.Message)).Then(c => Progressed(c.Saga)),
            SendStartTransfer(When(Nudged, c => IsCurrent(c.Saga, c.Message)).Then(c => Renudge(c.Saga))),
            RollBack(When(TransferFailed), c => TransferFailure(c.Message)),
            RollBack(When(DeadlineExpired, c => IsCurrent(c.Saga, c.Message)), c => DeadlineFailure(c.Message)),
            RollBack(When(CancelMigration), c => CancelFailure(c.Message)),
            Ignore(MigrationRequested), Ignore(DestinationPrepared),
            Ignore(VmPaused), Ignore(TargetSwitched), Ignore(MigrationCompleted), Ignore(VmResumed),
            Ignore(TargetSwitchedBack), Ignore(TransferAborted), Ignore(HostOperationFailed), Ignore(RetryMigration));

        During(Requesting,
            ContinueToCopying(When(BlocksRequested).Then(c => RecordBlocksRequested(c.Saga, c.Message))),
            When(CopyRoundCompleted, c => c.Message.Round > c.Saga.Rounds).Then(c => RecordRound(c.Saga, c.Message)).Then(c => Progressed(c.Saga)),
            When(DirtyBelowThreshold).Then(c => RecordThreshold(c.Saga, c.Message)).Then(c => Progressed(c.Saga)),
            SendStartTransfer(When(Nudged, c => IsCurrent(c.Saga, c.Message)).Then(c => Renudge(c.Saga))),
            RollBack(When(TransferFailed), c => TransferFailure(c.Message)),
            RollBack(When(DeadlineExpired, c => IsCurrent(c.Saga, c.Message)), c => DeadlineFailure(c.Message)),
            RollBack(When(CancelMigration), c => CancelFailure(c.Message)),
            Ignore(MigrationRequested), Ignore(DestinationPrepared), Ignore(IndexStreamed),
            Ignore(VmPaused), Ignore(TargetSwitched), Ignore(MigrationCompleted), Ignore(VmResumed),
            Ignore(TargetSwitchedBack), Ignore(TransferAborted), Ignore(HostOperationFailed), Ignore(RetryMigration));

        During(Copying,
            // Every round is progress: the nudge comes only after a whole nudge interval without one.
            When(CopyRoundCompleted, c => c.Message.Round > c.Saga.Rounds).Then(c => RecordRound(c.Saga, c.Message)).Then(c => Progressed(c.Saga)),
            SendStartTransfer(When(Nudged, c => IsCurrent(c.Saga, c.Message)).Then(c => Renudge(c.Saga))),
            SendPause(When(DirtyBelowThreshold).Then(c => RecordThreshold(c.Saga, c.Message))),
            RollBack(When(TransferFailed), c => TransferFailure(c.Message)),
            RollBack(When(DeadlineExpired, c => IsCurrent(c.Saga, c.Message)), c => DeadlineFailure(c.Message)),
            RollBack(When(CancelMigration), c => CancelFailure(c.Message)),
            Ignore(MigrationRequested), Ignore(DestinationPrepared), Ignore(IndexStreamed), Ignore(BlocksRequested),
            Ignore(VmPaused), Ignore(TargetSwitched), Ignore(MigrationCompleted), Ignore(VmResumed),
            Ignore(TargetSwitchedBack), Ignore(TransferAborted), Ignore(HostOperationFailed), Ignore(RetryMigration));

        During(Pausing,
            SendFinalSync(SendSwitchTarget(When(VmPaused)
                    .Then(c =>
                    {
                        c.Saga.PausedAt = c.Message.PausedAt;
                        c.Saga.SwitchRequested = true;
                    })))
                .TransitionTo(Switching),
            // The host answers a duplicate PauseVm of a paused VM with VmPaused again.
            SendPauseVm(When(Nudged, c => IsCurrent(c.Saga, c.Message)).Then(c => Renudge(c.Saga))),
            RollBack(When(TransferFailed), c => TransferFailure(c.Message)),
            RollBack(When(HostOperationFailed), c => HostFailure(c.Message)),
            RollBack(When(DeadlineExpired, c => IsCurrent(c.Saga, c.Message)), c => DeadlineFailure(c.Message)),
            RollBack(When(CancelMigration), c => CancelFailure(c.Message)),
            // The source may report a last round or repeat its threshold while the pause is under way.
            Ignore(CopyRoundCompleted), Ignore(DirtyBelowThreshold),
            Ignore(MigrationRequested), Ignore(DestinationPrepared), Ignore(IndexStreamed), Ignore(BlocksRequested),
            Ignore(TargetSwitched), Ignore(MigrationCompleted), Ignore(VmResumed),
            Ignore(TargetSwitchedBack), Ignore(TransferAborted), Ignore(RetryMigration));

        During(Switching,
            // The switch (host) and the verified final sync (destination) finish in either order; both are needed.
            ResumeWhenCutOverReady(When(TargetSwitched).Then(c =>
            {
                c.Saga.SwitchConfirmed = true;
                c.Saga.SwitchedAt = c.Message.SwitchedAt;
            })),
            ResumeWhenCutOverReady(When(MigrationCompleted, c => c.Message.Verified).Then(c => RecordCompleted(c.Saga, c.Message))),
            RollBack(When(MigrationCompleted, c => !c.Message.Verified).Then(c => RecordCompleted(c.Saga, c.Message)),
                _ => "the destination could not verify that its volume equals the source at pause time"),
            // Whichever answer is missing: the host answers a duplicate SwitchTarget with TargetSwitched again, the source
            // takes a duplicate FinalSync as the same request to finish.
            When(Nudged, c => IsCurrent(c.Saga, c.Message)).Then(c => Renudge(c.Saga))
                .If(c => !c.Saga.SwitchConfirmed, SendSwitchTarget)
                .If(c => !c.Saga.DestinationVerified, SendFinalSync),
            RollBack(When(TransferFailed), c => TransferFailure(c.Message)),
            RollBack(When(HostOperationFailed), c => HostFailure(c.Message)),
            RollBack(When(DeadlineExpired, c => IsCurrent(c.Saga, c.Message)), c => DeadlineFailure(c.Message)),
            RollBack(When(CancelMigration), c => CancelFailure(c.Message)),
            Ignore(CopyRoundCompleted), Ignore(DirtyBelowThreshold), Ignore(VmPaused),
            Ignore(MigrationRequested), Ignore(DestinationPrepared), Ignore(IndexStreamed), Ignore(BlocksRequested),
            Ignore(VmResumed), Ignore(TargetSwitchedBack), Ignore(TransferAborted), Ignore(RetryMigration));

        During(Resuming,
            When(VmResumed)
                .Then(c => RecordSucceeded(c.Saga, c.Message))
                .Publish(c => new MigrationSucceeded(
                    c.Saga.CorrelationId, c.Saga.VmId, c.Saga.VolumeId, c.Saga.DestinationStorageId, c.Saga.VolumeBytes,
                    c.Saga.BytesOnWire, c.Saga.BlocksFromIndex, c.Saga.Rounds, c.Saga.DowntimeMilliseconds ?? 0,
                    c.Saga.SucceededAt!.Value))
                .TransitionTo(Succeeded),
            // The host answers a duplicate ResumeVm of a VM this attempt resumed with VmResumed again, leaving the VM alone.
            SendResumeVm(When(Nudged, c => IsCurrent(c.Saga, c.Message)).Then(c => Renudge(c.Saga))),
            RollBack(When(TransferFailed), c => TransferFailure(c.Message)),
            RollBack(When(HostOperationFailed), c => HostFailure(c.Message)),
            RollBack(When(DeadlineExpired, c => IsCurrent(c.Saga, c.Message)), c => DeadlineFailure(c.Message)),
            RollBack(When(CancelMigration), c => CancelFailure(c.Message)),
            Ignore(TargetSwitched), Ignore(MigrationCompleted), Ignore(VmPaused), Ignore(CopyRoundCompleted), Ignore(DirtyBelowThreshold),
            Ignore(MigrationRequested), Ignore(DestinationPrepared), Ignore(IndexStreamed), Ignore(BlocksRequested),
            Ignore(TargetSwitchedBack), Ignore(TransferAborted), Ignore(RetryMigration));

        During(RollingBackSwitch,
            ContinueRollbackAfterSwitchBack(When(TargetSwitchedBack).Then(c => c.Saga.SwitchedBackAt = c.Message.SwitchedBackAt)),
            // SwitchBack is idempotent at the host: a path already on the source answers TargetSwitchedBack again.
            SendSwitchBack(When(Nudged, c => IsCurrent(c.Saga, c.Message)).Then(c => Renudge(c.Saga))),
            // The VM may still lead to the destination: leave the destination alone, an operator must look.
            // Only the switch back's own failure counts: a late failure of the switch it undoes changes nothing.
            AbandonRollback(When(HostOperationFailed, c => c.Message.Operation == HostOperationNames.SwitchBack),
                c => $"switch back failed: {HostFailure(c.Message)}", abortDestination: false),
            AbandonRollback(When(DeadlineExpired, c => IsCurrent(c.Saga, c.Message)),
                _ => "switch back was not confirmed in time", abortDestination: false),
            Ignore(CancelMigration), Ignore(TransferFailed), Ignore(VmResumed), Ignore(VmPaused),
            Ignore(TargetSwitched), Ignore(MigrationCompleted), Ignore(CopyRoundCompleted), Ignore(DirtyBelowThreshold),
            Ignore(MigrationRequested), Ignore(DestinationPrepared), Ignore(IndexStreamed), Ignore(BlocksRequested),
            Ignore(TransferAborted), Ignore(RetryMigration));

        During(RollingBackResume,
            FinishFailed(AbortBothSides(When(VmResumed).Then(c => c.Saga.ResumedOnSourceAt = c.Message.ResumedAt))),
            SendResumeVm(When(Nudged, c => IsCurrent(c.Saga, c.Message)).Then(c => Renudge(c.Saga))),
            // The path leads to the source again, so both sides can be released; the paused VM needs an operator.
            AbandonRollback(When(HostOperationFailed, c => c.Message.Operation == HostOperationNames.Resume),
                c => $"resume on the source failed: {HostFailure(c.Message)}", abortDestination: true),
            AbandonRollback(When(DeadlineExpired, c => IsCurrent(c.Saga, c.Message)),
                _ => "resume on the source was not confirmed in time", abortDestination: true),
            Ignore(CancelMigration), Ignore(TransferFailed), Ignore(TargetSwitchedBack), Ignore(VmPaused),
            Ignore(TargetSwitched), Ignore(MigrationCompleted), Ignore(CopyRoundCompleted), Ignore(DirtyBelowThreshold),
            Ignore(MigrationRequested), Ignore(DestinationPrepared), Ignore(IndexStreamed), Ignore(BlocksRequested),
            Ignore(TransferAborted), Ignore(RetryMigration));

        During(Succeeded,
            Ignore(MigrationRequested), Ignore(DestinationPrepared), Ignore(IndexStreamed), Ignore(BlocksRequested),
            Ignore(CopyRoundCompleted), Ignore(DirtyBelowThreshold), Ignore(VmPaused), Ignore(TargetSwitched),
            Ignore(MigrationCompleted), Ignore(VmResumed), Ignore(TargetSwitchedBack), Ignore(TransferFailed),
            Ignore(HostOperationFailed), Ignore(TransferAborted), Ignore(DeadlineExpired), Ignore(CancelMigration),
            Ignore(RetryMigration), Ignore(Nudged));

        During(Failed,
            When(TransferAborted).Then(c => RecordAborted(c.Saga, c.Message)),
            // An AbortTransfer (or its TransferAborted) may have been lost: re-send it, for a while, to the sides that have
            // not confirmed. A storage worker answers a duplicate abort with TransferAborted again.
            When(Nudged, c => IsCurrent(c.Saga, c.Message))
                .IfElse(c => c.Saga.FailedAt is { } failedAt && Now() - failedAt < _settings.AbortResendWindow,
                    resend => resend
                        .Then(c => Renudge(c.Saga))
                        .If(c => c.Saga.SourceAbortRequested && c.Saga.SourceAbortedAt is null, SendSourceAbort)
                        .If(c => c.Saga.DestinationAbortRequested && c.Saga.DestinationAbortedAt is null, SendDestinationAbort),
                    giveUp => giveUp.Then(c => c.Saga.NudgeAtUtc = null)),
            // After an incomplete rollback the VM's path is unconfirmed: retrying could move a disk in use, an operator decides.
            StartPrepare(When(RetryMigration, c => !c.Saga.RollbackIncomplete).Then(c => ResetForRetry(c.Saga))),
            Ignore(MigrationRequested), Ignore(DestinationPrepared), Ignore(IndexStreamed), Ignore(BlocksRequested),
            Ignore(CopyRoundCompleted), Ignore(DirtyBelowThreshold), Ignore(VmPaused), Ignore(TargetSwitched),
            Ignore(MigrationCompleted), Ignore(VmResumed), Ignore(TargetSwitchedBack), Ignore(TransferFailed),
            Ignore(HostOperationFailed), Ignore(DeadlineExpired), Ignore(CancelMigration));
    }

    public State Preparing { get; private set; } = null!;
    public State Indexing { get; private set; } = null!;
    public State Requesting { get; private set; } = null!;
    public State Copying { get; private set; } = null!;
    public State Pausing { get; private set; } = null!;
    public State Switching { get; private set; } = null!;
    public State Resuming { get; private set; } = null!;
    public State Succeeded { get; private set; } = null!;
    public State RollingBackSwitch { get; private set; } = null!;
    public State RollingBackResume { get; private set; } = null!;
    public State Failed { get; private set; } = null!;

    public Event<MigrationRequested> MigrationRequested { get; private set; } = null!;
    public Event<DestinationPrepared> DestinationPrepared { get; private set; } = null!;
    public Event<IndexStreamed> IndexStreamed { get; private set; } = null!;
    public Event<BlocksRequested> BlocksRequested { get; private set; } = null!;
    public Event<CopyRoundCompleted> CopyRoundCompleted { get; private set; } = null!;
    public Event<DirtyBelowThreshold> DirtyBelowThreshold { get; private set; } = null!;
    public Event<VmPaused> VmPaused { get; private set; } = null!;
    public Event<TargetSwitched> TargetSwitched { get; private set; } = null!;
    public Event<MigrationCompleted> MigrationCompleted { get; private set; } = null!;
    public Event<VmResumed> VmResumed { get; private set; } = null!;
    public Event<TargetSwitchedBack> TargetSwitchedBack { get; private set; } = null!;
    public Event<TransferFailed> TransferFailed { get; private set; } = null!;
    public Event<HostOperationFailed> HostOperationFailed { get; private set; } = null!;
    public Event<TransferAborted> TransferAborted { get; private set; } = null!;
    public Event<MigrationDeadlineExpired> DeadlineExpired { get; private set; } = null!;
    public Event<MigrationNudged> Nudged { get; private set; } = null!;
    public Event<CancelMigration> CancelMigration { get; private set; } = null!;
    public Event<RetryMigration> RetryMigration { get; private set; } = null!;

    /// <summary>Queue address of a storage worker.</summary>
    public static Uri StorageQueue(string storageId) => new($"queue:{WorkerQueues.Storage(storageId)}");

    /// <summary>Queue address of a host worker.</summary>
    public static Uri HostQueue(string hostId) => new($"queue:{WorkerQueues.Host(hostId)}");

    // Worker events about a migration this orchestrator does not know (deleted row, other system) are dropped.
    private void Correlate<T>(Expression<Func<Event<T>>> propertyExpression, Func<T, Guid> id)
        where T : class =>
        Event(propertyExpression, x =>
        {
            x.CorrelateById(m => id(m.Message));
            x.OnMissingInstance(m => m.Discard());
        });

    // ---- transitions shared by several states ----------------------------------------------------------------

    // A valid request (or retry) sends PrepareDestination; one that cannot be carried out fails at once, before any side effect.
    private EventActivityBinder<MigrationState, T> StartPrepare<T>(EventActivityBinder<MigrationState, T> binder)
        where T : class =>
        binder.IfElse(c => RequestProblem(c.Saga) is null,
            ok => SendPrepare(ok.Then(c => c.Saga.PrepareSentAt = Now())).TransitionTo(Preparing),
            invalid => FinishFailed(invalid.Then(c => BeginFailure(c.Saga, $"invalid request: {RequestProblem(c.Saga)}"))));

    // ---- the commands, each built in one place: first sends and the nudges' re-sends are the same message ----

    private static EventActivityBinder<MigrationState, T> SendPrepare<T>(EventActivityBinder<MigrationState, T> binder)
        where T : class =>
        binder.Send(c => StorageQueue(c.Saga.DestinationStorageId), c => new PrepareDestination(
            c.Saga.CorrelationId, c.Saga.VolumeId, c.Saga.SourceStorageId, c.Saga.DestinationStorageId, c.Saga.Options, c.Saga.Attempt));

    private static EventActivityBinder<MigrationState, T> SendStartTransfer<T>(EventActivityBinder<MigrationState, T> binder)
        where T : class =>
        binder.Send(c => StorageQueue(c.Saga.SourceStorageId), c => new StartTransfer(
            c.Saga.CorrelationId, c.Saga.VolumeId, c.Saga.SourceStorageId, c.Saga.DestinationStorageId,
            c.Saga.DataEndpoint!, c.Saga.Secret!, c.Saga.CertificateSha256, c.Saga.Options, c.Saga.Attempt));

    private static EventActivityBinder<MigrationState, T> SendPauseVm<T>(EventActivityBinder<MigrationState, T> binder)
        where T : class =>
        binder.Send(c => HostQueue(c.Saga.HostId), c => new PauseVm(c.Saga.CorrelationId, c.Saga.VmId, c.Saga.HostId, c.Saga.Attempt));

    // The destination told where its export of the volume is (DestinationPrepared): the host repoints there.
    private static EventActivityBinder<MigrationState, T> SendSwitchTarget<T>(EventActivityBinder<MigrationState, T> binder)
        where T : class =>
        binder.Send(c => HostQueue(c.Saga.HostId), c => new SwitchTarget(
            c.Saga.CorrelationId, c.Saga.VmId, c.Saga.HostId, c.Saga.VolumeId, c.Saga.DestinationStorageId,
            c.Saga.NbdEndpoint!, c.Saga.ExportName!, c.Saga.Attempt));

    private static EventActivityBinder<MigrationState, T> SendFinalSync<T>(EventActivityBinder<MigrationState, T> binder)
        where T : class =>
        binder.Send(c => StorageQueue(c.Saga.SourceStorageId), c => new FinalSync(
            c.Saga.CorrelationId, c.Saga.VolumeId, c.Saga.SourceStorageId, c.Saga.Attempt));

    private static EventActivityBinder<MigrationState, T> SendResumeVm<T>(EventActivityBinder<MigrationState, T> binder)
        where T : class =>
        binder.Send(c => HostQueue(c.Saga.HostId), c => new ResumeVm(c.Saga.CorrelationId, c.Saga.VmId, c.Saga.HostId, c.Saga.Attempt));

    private static EventActivityBinder<MigrationState, T> SendSwitchBack<T>(EventActivityBinder<MigrationState, T> binder)
        where T : class =>
        binder.Send(c => HostQueue(c.Saga.HostId), c => new SwitchBack(
            c.Saga.CorrelationId, c.Saga.VmId, c.Saga.HostId, c.Saga.VolumeId, c.Saga.SourceStorageId, c.Saga.Attempt));

    private static EventActivityBinder<MigrationState, T> SendSourceAbort<T>(EventActivityBinder<MigrationState, T> binder)
        where T : class =>
        binder.Send(c => StorageQueue(c.Saga.SourceStorageId), c => new AbortTransfer(
            c.Saga.CorrelationId, c.Saga.VolumeId, c.Saga.SourceStorageId, c.Saga.FailureReason ?? "", c.Saga.Attempt));

    private static EventActivityBinder<MigrationState, T> SendDestinationAbort<T>(EventActivityBinder<MigrationState, T> binder)
        where T : class =>
        binder.Send(c => StorageQueue(c.Saga.DestinationStorageId), c => new AbortTransfer(
            c.Saga.CorrelationId, c.Saga.VolumeId, c.Saga.DestinationStorageId, c.Saga.FailureReason ?? "", c.Saga.Attempt));

    // Copying starts when both the index (source) and the request (destination) are in; a threshold the source
    // reported meanwhile sends the pause straight away.
    private EventActivityBinder<MigrationState, T> ContinueToCopying<T>(EventActivityBinder<MigrationState, T> binder)
        where T : class =>
        binder.IfElse(c => c.Saga.ThresholdSeen,
            SendPause,
            copying => copying.TransitionTo(Copying));

    private EventActivityBinder<MigrationState, T> SendPause<T>(EventActivityBinder<MigrationState, T> binder)
        where T : class =>
        SendPauseVm(binder.Then(c =>
            {
                c.Saga.PauseRequested = true;
                c.Saga.PauseSentAt = Now();
            }))
            .TransitionTo(Pausing);

    private EventActivityBinder<MigrationState, T> ResumeWhenCutOverReady<T>(EventActivityBinder<MigrationState, T> binder)
        where T : class =>
        binder.If(c => c.Saga.SwitchConfirmed && c.Saga.DestinationVerified,
            resume => SendResumeVm(resume).TransitionTo(Resuming));

    // Rollback undoes in reverse: switch back (if a switch was asked for), resume on the source (if a pause was
    // asked for), then release both storage sides. Each host step waits for its acknowledgement.
    private EventActivityBinder<MigrationState, T> RollBack<T>(
        EventActivityBinder<MigrationState, T> binder, Func<BehaviorContext<MigrationState, T>, string> reason)
        where T : class =>
        binder
            .Then(c => BeginFailure(c.Saga, reason(c)))
            .IfElse(c => c.Saga.SwitchRequested,
                switchBack => SendSwitchBack(switchBack).TransitionTo(RollingBackSwitch),
                ContinueRollbackAfterSwitchBack);

    private EventActivityBinder<MigrationState, T> ContinueRollbackAfterSwitchBack<T>(EventActivityBinder<MigrationState, T> binder)
        where T : class =>
        binder.IfElse(c => c.Saga.PauseRequested,
            resume => SendResumeVm(resume).TransitionTo(RollingBackResume),
            release => FinishFailed(AbortBothSides(release)));

    private EventActivityBinder<MigrationState, T> AbandonRollback<T>(
        EventActivityBinder<MigrationState, T> binder, Func<BehaviorContext<MigrationState, T>, string> problem, bool abortDestination)
        where T : class
    {
        var marked = binder.Then(c =>
        {
            c.Saga.RollbackIncomplete = true;
            c.Saga.FailureReason = $"{c.Saga.FailureReason}; rollback incomplete: {problem(c)}";
        });
        return FinishFailed(abortDestination ? AbortBothSides(marked) : AbortSource(marked));
    }

    // The flags say which sides a Failed row re-sends its abort to until they confirm.
    private static EventActivityBinder<MigrationState, T> AbortSource<T>(EventActivityBinder<MigrationState, T> binder)
        where T : class =>
        SendSourceAbort(binder.Then(c => c.Saga.SourceAbortRequested = true));

    private static EventActivityBinder<MigrationState, T> AbortBothSides<T>(EventActivityBinder<MigrationState, T> binder)
        where T : class =>
        SendDestinationAbort(AbortSource(binder).Then(c => c.Saga.DestinationAbortRequested = true));

    private EventActivityBinder<MigrationState, T> FinishFailed<T>(EventActivityBinder<MigrationState, T> binder)
        where T : class =>
        binder
            .Then(c => c.Saga.FailedAt = Now())
            .Publish(c => new MigrationFailed(
                c.Saga.CorrelationId, c.Saga.VmId, c.Saga.FailedPhase ?? "", c.Saga.FailureReason ?? "", c.Saga.FailedAt!.Value))
            .TransitionTo(Failed);

    // ---- what the saga records -------------------------------------------------------------------------------

    private void Enter(MigrationState saga, string phase, TimeSpan? timeout, string? nudgedState)
    {
        saga.NudgeAtUtc = NextNudge(nudgedState);
        // The cut-over spans three states; its phase starts with the first.
        if (saga.Phase != phase)
        {
            saga.PhaseEnteredAt = Now();
        }

        saga.Phase = phase;
        // Whole milliseconds: the value must compare equal after a round trip through any database and the bus.
        saga.DeadlineUtc = timeout is { } t ? TruncateToMilliseconds(Now().UtcDateTime + t) : null;
    }

    private DateTime? NextNudge(string? state) =>
        state is not null && _settings.NudgeIntervalOf(state) is { } interval ? TruncateToMilliseconds(Now().UtcDateTime + interval) : null;

    // Progress in a transfer state: the nudge waits a whole interval from now.
    private void Progressed(MigrationState saga) => saga.NudgeAtUtc = NextNudge(saga.CurrentState);

    // A nudge the state acts on: counted, and the next one a whole interval later (until progress or the deadline).
    private void Renudge(MigrationState saga)
    {
        saga.Nudges++;
        saga.NudgeAtUtc = NextNudge(saga.CurrentState);
        _metrics.Nudged(saga.CurrentState);
    }

    // Only the nudge for this state, attempt and nudge time counts: a late one, a duplicate from another sweeper, or
    // one for a state the saga has left does nothing.
    private bool IsCurrent(MigrationState saga, MigrationNudged nudged) =>
        saga.NudgeAtUtc is { } nudgeAt
        && string.Equals(nudged.State, saga.CurrentState, StringComparison.Ordinal)
        && nudged.Attempt == saga.Attempt
        && nudged.NudgeAt.UtcDateTime == nudgeAt
        && Now().UtcDateTime >= nudgeAt;

    private static bool AbortsPending(MigrationState saga) =>
        (saga.SourceAbortRequested && saga.SourceAbortedAt is null) || (saga.DestinationAbortRequested && saga.DestinationAbortedAt is null);

    private bool IsCurrent(MigrationState saga, MigrationDeadlineExpired expired) =>
        saga.DeadlineUtc is { } deadline
        && string.Equals(expired.State, saga.CurrentState, StringComparison.Ordinal)
        && expired.Deadline.UtcDateTime == deadline
        && Now().UtcDateTime >= deadline;

    private static DateTime TruncateToMilliseconds(DateTime value) =>
        new(value.Ticks - value.Ticks % TimeSpan.TicksPerMillisecond, DateTimeKind.Utc);

    private DateTimeOffset Now() => _clock.GetUtcNow();

    private void Accept(MigrationState saga, MigrationRequested request)
    {
        saga.VmId = request.VmId ?? "";
        saga.VolumeId = request.VolumeId ?? "";
        saga.SourceStorageId = request.SourceStorageId ?? "";
        saga.DestinationStorageId = request.DestinationStorageId ?? "";
        saga.HostId = request.HostId ?? "";
        var options = request.Options ?? new MigrationOptions();
        saga.OptionBlockSize = options.BlockSize;
        saga.OptionBandwidthBytesPerSecond = options.BandwidthBytesPerSecond;
        saga.OptionDirtyThresholdBlocks = options.DirtyThresholdBlocks;
        saga.OptionMaxCopyRounds = options.MaxCopyRounds;
        saga.OptionCompressionLevel = options.CompressionLevel;
        saga.OptionUseIndex = options.UseIndex;
        saga.RequestedAt = request.RequestedAt;
        saga.Attempt = 1;
    }

    // Ids become queue names and URIs: keep them to a safe alphabet. Returns null when the request can be carried out.
    private static string? RequestProblem(MigrationState saga)
    {
        foreach (var (name, value) in new[]
                 {
                     ("VmId", saga.VmId), ("VolumeId", saga.VolumeId), ("SourceStorageId", saga.SourceStorageId),
                     ("DestinationStorageId", saga.DestinationStorageId), ("HostId", saga.HostId),
                 })
        {
            if (!SafeId().IsMatch(value))
            {
                return $"{name} '{value}' must be 1-128 characters of letters, digits, '.', '_' or '-'";
            }
        }

        if (saga.SourceStorageId == saga.DestinationStorageId)
        {
            return $"source and destination are the same storage '{saga.SourceStorageId}'";
        }

        return null;
    }

    [GeneratedRegex("^[A-Za-z0-9._-]{1,128}$")]
    private static partial Regex SafeId();

    // The source would be sent to connect with these: an answer without them (or from another storage) is useless.
    private static string? PreparedProblem(MigrationState saga, DestinationPrepared prepared) =>
        prepared.DestinationStorageId != saga.DestinationStorageId
            ? $"it came from storage '{prepared.DestinationStorageId}', not the destination '{saga.DestinationStorageId}'"
            : string.IsNullOrWhiteSpace(prepared.DataEndpoint) ? "no data endpoint"
            : string.IsNullOrWhiteSpace(prepared.Secret) ? "no secret"
            : string.IsNullOrWhiteSpace(prepared.NbdEndpoint) ? "no NBD endpoint for the switch"
            : string.IsNullOrWhiteSpace(prepared.ExportName) ? "no export name for the switch"
            : null;

    private static void RecordPrepared(MigrationState saga, DestinationPrepared prepared)
    {
        saga.DataEndpoint = prepared.DataEndpoint;
        saga.Secret = prepared.Secret;
        saga.CertificateSha256 = prepared.CertificateSha256;
        saga.NbdEndpoint = prepared.NbdEndpoint;
        saga.ExportName = prepared.ExportName;
        saga.PreparedAt = prepared.PreparedAt;
    }

    private static void RecordIndexStreamed(MigrationState saga, IndexStreamed streamed)
    {
        saga.IndexStreamedSeen = true;
        saga.IndexStreamedAt = streamed.StreamedAt;
        saga.VolumeBytes = streamed.VolumeBytes;
        saga.Blocks = streamed.Blocks;
        saga.ZeroBlocks = streamed.ZeroBlocks;
        saga.IndexBytes = streamed.IndexBytes;
    }

    private static void RecordBlocksRequested(MigrationState saga, BlocksRequested requested)
    {
        saga.BlocksRequestedSeen = true;
        saga.BlocksRequestedAt = requested.RequestedAt;
        saga.BlocksFromIndex = requested.BlocksFromIndex;
        saga.BlocksRequestedFromSource = requested.BlocksRequestedFromSource;
    }

    // Rounds count up from 1; the figures of a round are added once (a repeated or older round is filtered out).
    private static void RecordRound(MigrationState saga, CopyRoundCompleted round)
    {
        saga.Rounds = round.Round;
        saga.BlocksSent += round.BlocksSent;
        saga.BytesOnWire += round.BytesOnWire;
        saga.LastBytesPerSecond = round.BytesPerSecond;
        saga.DirtyBlocks = round.DirtyBlocksRemaining;
        saga.LastRoundAt = round.CompletedAt;
    }

    private static void RecordThreshold(MigrationState saga, DirtyBelowThreshold threshold)
    {
        saga.ThresholdSeen = true;
        saga.DirtyBelowThresholdAt = threshold.ReachedAt;
        saga.Rounds = Math.Max(saga.Rounds, threshold.Rounds);
        saga.DirtyBlocks = threshold.DirtyBlocks;
        saga.RoundCapReached = threshold.RoundCapReached;
    }

    // The destination's totals are authoritative: they replace the running sums of the rounds.
    private static void RecordCompleted(MigrationState saga, MigrationCompleted completed)
    {
        saga.DestinationVerified = completed.Verified;
        saga.Verified = completed.Verified;
        saga.CompletedAt = completed.CompletedAt;
        saga.VolumeBytes = completed.VolumeBytes;
        saga.BytesOnWire = completed.BytesOnWire;
        saga.BlocksFromIndex = completed.BlocksFromIndex;
        saga.BlocksSent = completed.BlocksSent;
        saga.Rounds = completed.Rounds;
    }

    private void RecordSucceeded(MigrationState saga, VmResumed resumed)
    {
        saga.ResumedAt = resumed.ResumedAt;
        saga.DowntimeMilliseconds = saga.PausedAt is { } paused ? Math.Max(0, (resumed.ResumedAt - paused).TotalMilliseconds) : null;
        saga.SucceededAt = Now();
    }

    private static void RecordAborted(MigrationState saga, TransferAborted aborted)
    {
        if (aborted.StorageId == saga.SourceStorageId)
        {
            saga.SourceAbortedAt = aborted.AbortedAt;
        }
        else if (aborted.StorageId == saga.DestinationStorageId)
        {
            saga.DestinationAbortedAt = aborted.AbortedAt;
        }

        if (!AbortsPending(saga))
        {
            saga.NudgeAtUtc = null;
        }
    }

    private void BeginFailure(MigrationState saga, string reason)
    {
        saga.FailureReason = reason;
        saga.FailedPhase = string.IsNullOrEmpty(saga.Phase) ? MigrationPhases.Prepare : saga.Phase;
        saga.FailedState = string.IsNullOrEmpty(saga.CurrentState) || saga.CurrentState == "Initial" ? "Initial" : saga.CurrentState;
        saga.RollbackStartedAt = Now();
    }

    // A retry starts over from PrepareDestination with the same MigrationId; only the request itself is kept.
    private static void ResetForRetry(MigrationState saga)
    {
        saga.Attempt++;
        saga.DataEndpoint = saga.Secret = saga.CertificateSha256 = saga.NbdEndpoint = saga.ExportName = null;
        saga.PrepareSentAt = saga.PreparedAt = saga.IndexStreamedAt = saga.BlocksRequestedAt = saga.LastRoundAt = null;
        saga.DirtyBelowThresholdAt = saga.PauseSentAt = saga.PausedAt = saga.SwitchedAt = saga.CompletedAt = null;
        saga.ResumedAt = saga.SucceededAt = saga.RollbackStartedAt = saga.SwitchedBackAt = saga.ResumedOnSourceAt = null;
        saga.FailedAt = saga.SourceAbortedAt = saga.DestinationAbortedAt = null;
        saga.VolumeBytes = saga.Blocks = saga.ZeroBlocks = saga.IndexBytes = 0;
        saga.BlocksFromIndex = saga.BlocksRequestedFromSource = saga.BlocksSent = saga.BytesOnWire = saga.DirtyBlocks = 0;
        saga.Rounds = 0;
        saga.LastBytesPerSecond = 0;
        saga.DowntimeMilliseconds = null;
        saga.RoundCapReached = saga.Verified = false;
        saga.IndexStreamedSeen = saga.BlocksRequestedSeen = saga.ThresholdSeen = false;
        saga.SwitchConfirmed = saga.DestinationVerified = saga.PauseRequested = saga.SwitchRequested = false;
        saga.SourceAbortRequested = saga.DestinationAbortRequested = false;
        saga.Nudges = 0;
        saga.FailureReason = saga.FailedPhase = saga.FailedState = null;
    }

    private static string TransferFailure(TransferFailed failed) => $"storage {failed.StorageId} failed in {failed.Phase}: {failed.Reason}";

    private static string HostFailure(HostOperationFailed failed) => $"host {failed.HostId} could not {failed.Operation}: {failed.Reason}";

    private static string DeadlineFailure(MigrationDeadlineExpired expired) => $"deadline of state {expired.State} passed at {expired.Deadline:O}";

    private static string CancelFailure(CancelMigration cancel) => $"cancelled: {cancel.Reason}";
}
