using System.Linq.Expressions;
using MassTransit;
using Microsoft.Extensions.Logging;
using Teleport.Contracts;
using Teleport.Messaging;
using static Teleport.Orchestrator.MigrationChecks;

namespace Teleport.Orchestrator;

/// <summary>
/// The migration saga: one instance per MigrationId, driving the workers through prepare, index, request, copy
/// rounds and cut-over, and rolling back to the source on any fault, deadline or cancel before the VM resumes on
/// the destination. Pure decisions: it only records, sends and publishes (the repository and outbox do the I/O).
/// Read it beside the diagram in docs/saga.md: one block per step, shared steps in <see cref="SagaTransitions"/>,
/// commands in <see cref="SagaCommands"/>.
/// </summary>
public sealed partial class MigrationStateMachine : MassTransitStateMachine<MigrationState>
{
    // addresses: how commands reach the workers' queues (quorum queues need other addresses); classic when absent.
    public MigrationStateMachine(MigrationSettings settings, TimeProvider clock, ILogger<MigrationStateMachine> logger, MigrationMetrics metrics,
        CommandAddresses? addresses = null)
    {
        Addresses = addresses ?? CommandAddresses.Classic;
        Schedule = new MigrationSchedule(settings, clock, metrics);
        _logger = logger;
        Controller = new DowntimeController(settings, clock, logger);
        InstanceState(x => x.CurrentState);
        ConnectStateObserver(new MigrationStateLogger(logger, metrics));

        DeclareEvents();
        EnterStates(settings);
        Prepare();
        Transfer();
        CutOver();
        CompleteTail();
        MoveVm(settings);
        Faults();
        RollBack();
        Ended();
        IgnoreWhatEachStateDoesNotHandle();
    }

    private readonly ILogger _logger;

    internal CommandAddresses Addresses { get; }

    /// <summary>Deadlines and nudges on the saga's clock.</summary>
    internal MigrationSchedule Schedule { get; }

    /// <summary>Decides a storage-only move's pause from the predicted downtime.</summary>
    internal DowntimeController Controller { get; }

    public State Preparing { get; private set; } = null!;
    public State Indexing { get; private set; } = null!;
    public State Requesting { get; private set; } = null!;
    public State Copying { get; private set; } = null!;
    public State Pausing { get; private set; } = null!;
    public State Switching { get; private set; } = null!;
    public State Resuming { get; private set; } = null!;

    /// <summary>Fenced cut-over: the VM runs on the destination while the final round and the verification finish.</summary>
    public State CompletingTail { get; private set; } = null!;
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

    // The states between the request and the VM resumed on the destination in which everything still rolls back
    // (StartingOnDestination is past the point of no return once `cont` may have run: see MoveVm).
    private State[] InFlight =>
        [Preparing, Indexing, Requesting, Copying, Pausing, Switching, Resuming, MigratingMemory, SyncingDisk, ContinuingMemory];

    // The in-flight states in which every host operation the saga waits on was asked for.
    private State[] HostsAsked => [Pausing, Switching, Resuming, MigratingMemory, SyncingDisk, ContinuingMemory];

    // Prepare -> Index: the destination prepares, then the source is told where to connect.
    private void Prepare()
    {
        Initially(
            When(MigrationRequested).Then(c => c.Saga.Accept(c.Message)).StartPrepare());

        During(Preparing,
            When(DestinationPrepared, c => PreparedProblem(c.Saga, c.Message) is null)
                .Then(c => c.Saga.Run.Record(c.Message))
                .StartTransferWhenPrepared(),
            When(DestinationPrepared, c => PreparedProblem(c.Saga, c.Message) is not null)
                .StartRollback(c => $"unusable DestinationPrepared: {PreparedProblem(c.Saga, c.Message)}"),
            // The destination answers a duplicate PrepareDestination with its DestinationPrepared again.
            // A whole-VM move also waits for the source host's VmDescribed, which answers a duplicate DescribeVm again.
            WhenNudged().Renudge()
                .If(c => !c.Saga.Run.DestinationReady, resend => resend.SendPrepare())
                .If(c => c.Saga.WholeVm && !c.Saga.Run.VmDescribedSeen, resend => resend.SendDescribeVm())
                .If(c => c.Saga.Run.IncomingRequested && !c.Saga.Run.IncomingReady, resend => resend.SendPrepareIncomingVm()));
    }

    // Index -> Request -> Copy -> Pausing. The index events of both sides, the rounds and the threshold may arrive in
    // any order: each is recorded, and the step is taken once what it needs is in.
    private void Transfer()
    {
        During(Indexing,
            When(IndexStreamed)
                .Then(c => c.Saga.Run.Record(c.Message))
                .IfElse(c => c.Saga.Run.BlocksRequestedSeen, copy => copy.ContinueToCopying(), request => request.TransitionTo(Requesting)),
            // The destination may finish reading the index before the source's event arrives: keep it for later.
            When(BlocksRequested).Then(c => c.Saga.Run.Record(c.Message)).Progressed());

        During(Requesting,
            When(BlocksRequested).Then(c => c.Saga.Run.Record(c.Message)).ContinueToCopying());

        During(Indexing, Requesting,
            When(DirtyBelowThreshold).Then(c => c.Saga.Run.Record(c.Message)).Progressed());

        During(Copying,
            When(DirtyBelowThreshold).Then(c => c.Saga.Run.Record(c.Message)).StartCutOver());

        // Every round is progress: the nudge comes only after a whole nudge interval without one. The source answers
        // a duplicate StartTransfer with the latest events it has for the attempt.
        During(Indexing, Requesting, Copying,
            When(CopyRoundCompleted, c => c.Message.Round > c.Saga.Run.Rounds).Then(c => c.Saga.Run.Record(c.Message)).Progressed()
                // Past the threshold the downtime controller waits for a round whose figures let the pause fit; a fenced
                // migration whose rounds stopped converging goes post-copy, threshold or not.
                .If(c => c.Saga.CurrentState == nameof(Copying) && !c.Saga.WholeVm && (c.Saga.Run.ThresholdSeen || Controller.PostCopyDue(c.Saga)),
                    decide => decide.PauseWhenPredictionFits()),
            // A fenced copy past its budget goes post-copy at the nudge timed for it, even while a round is still running.
            WhenNudged().Renudge().IfElse(c => Controller.PostCopyDue(c.Saga), decide => decide.PauseWhenPredictionFits(),
                resend => resend.SendStartTransfer().If(c => c.Saga.WholeVm && !c.Saga.Run.IncomingReady, prepare => prepare.SendPrepareIncomingVm())));
    }

    // Pausing -> Switching -> Resuming -> Succeeded.
    private void CutOver()
    {
        During(Pausing,
            When(VmPaused)
                .Then(c =>
                {
                    c.Saga.Run.PausedAt = c.Message.PausedAt;
                    c.Saga.Run.SwitchRequested = true;
                })
                .SendSwitchTarget()
                .SendFinalSync()
                .TransitionTo(Switching),
            // The host answers a duplicate PauseVm of a paused VM with VmPaused again.
            WhenNudged().Renudge().SendPauseVm());

        During(Switching,
            When(TargetSwitched).Then(c => c.Saga.Run.Record(c.Message)).ResumeWhenCutOverReady(),
            When(MigrationCompleted, c => c.Message.Verified).Then(c => c.Saga.Run.Record(c.Message)).ResumeWhenCutOverReady(),
            When(MigrationCompleted, c => !c.Message.Verified).Then(c => c.Saga.Run.Record(c.Message))
                .StartRollback(_ => "the destination could not verify that its volume equals the source at pause time"),
            // A host carrying the cut-over itself may have resumed on the destination before its TargetSwitched was read
            // (the broker's order is not the consumers'): the resume is the point of no return either way.
            When(VmResumed, c => c.Saga.LocalCutOver)
                .Then(c =>
                {
                    c.Saga.Run.SwitchConfirmed = true;
                    c.Saga.Run.RecordResumed(c.Message);
                })
                .IfElse(c => c.Saga.Run.DestinationVerified, done => done.Succeed(), tail => tail.TransitionTo(CompletingTail)),
            // Whichever answer is missing: the host answers a duplicate SwitchTarget with TargetSwitched again, the source
            // takes a duplicate FinalSync as the same request to finish.
            WhenNudged().Renudge()
                .If(c => !c.Saga.Run.SwitchConfirmed, resend => resend.SendSwitchTarget())
                .If(c => !c.Saga.Run.DestinationVerified, resend => resend.SendFinalSync()));

        // A fenced cut-over resumes before the destination verified: the tail finishes in CompletingTail.
        During(Resuming,
            When(VmResumed)
                .Then(c => c.Saga.Run.RecordResumed(c.Message))
                .IfElse(c => c.Saga.Run.DestinationVerified, done => done.Succeed(), tail => tail.TransitionTo(CompletingTail)));

        // The host answers a duplicate ResumeVm of a VM this attempt resumed with VmResumed again, leaving the VM alone.
        During(Resuming,
            WhenNudged().Renudge().SendResumeVm(onDestination: true));
        During(RollingBackResume,
            WhenNudged().Renudge().SendResumeVm());
    }

    // The fenced cut-over's tail (MigrationOptions.FencedCutover): the VM resumed on the destination's fenced volume
    // before the verdict. Before the resume is confirmed a failed tail still rolls back (a host that already resumed
    // refuses the switch back, and the rollback ends incomplete); from CompletingTail on the VM has written on the
    // destination and nothing goes back: Failed, incomplete, only the source aborted, its volume kept.
    private void CompleteTail()
    {
        During(Resuming,
            When(MigrationCompleted, c => c.Message.Verified).Then(c => c.Saga.Run.Record(c.Message)),
            When(MigrationCompleted, c => !c.Message.Verified).Then(c => c.Saga.Run.Record(c.Message))
                .StartRollback(_ => "the destination could not verify that its volume equals the source at pause time"));

        During(CompletingTail,
            When(MigrationCompleted, c => c.Message.Verified).Then(c => c.Saga.Run.Record(c.Message)).Succeed(),
            When(MigrationCompleted, c => !c.Message.Verified).Then(c => c.Saga.Run.Record(c.Message))
                .FailAfterResume(_ => "the destination could not verify that its volume equals the source at pause time"),
            When(TransferFailed).FailAfterResume(c => Reason(c.Message)),
            WhenDue(DeadlineExpired).FailAfterResume(c => Reason(c.Message)),
            When(CancelMigration).Then(c => MigrationStateLogger.CancelRefused(_logger, c.Saga.CorrelationId, c.Message.Reason)),
            // The source takes a duplicate FinalSync as the same request to finish and answers a finished one again.
            WhenNudged().Renudge().SendFinalSync());
    }

    // Any fault, deadline or cancel before the VM resumes on the destination rolls back to the source; from the pause
    // on, so does a failed host operation (before it the host was asked nothing, so a host failure then is stale).
    private void Faults()
    {
        During(InFlight,
            When(TransferFailed).StartRollback(c => Reason(c.Message)),
            WhenDue(DeadlineExpired).StartRollback(c => Reason(c.Message)),
            When(CancelMigration).StartRollback(c => Reason(c.Message)));

        During(HostsAsked,
            When(HostOperationFailed).StartRollback(c => Reason(c.Message)));

        // A whole-VM move asks its hosts from the start (DescribeVm, PrepareIncomingVm); a storage-only one asked nothing yet.
        During(Preparing, Indexing, Requesting, Copying,
            When(HostOperationFailed, c => c.Saga.WholeVm).StartRollback(c => Reason(c.Message)));
    }

    // RollingBackSwitch -> RollingBackResume -> Failed. Only the failure of the rollback's own step counts: a late
    // failure of the step being undone changes nothing.
    private void RollBack()
    {
        During(RollingBackSwitch,
            When(TargetSwitchedBack).Then(c => c.Saga.Run.SwitchedBackAt = c.Message.SwitchedBackAt).ContinueRollbackAfterSwitchBack(),
            // SwitchBack is idempotent at the host: a path already on the source answers TargetSwitchedBack again.
            WhenNudged().Renudge().SendSwitchBack(),
            // The VM may still lead to the destination: leave the destination alone, an operator must look.
            When(HostOperationFailed, c => c.Message.Operation == HostOperationNames.SwitchBack)
                .AbandonRollback(c => $"switch back failed: {Reason(c.Message)}", abortDestination: false),
            WhenDue(DeadlineExpired).AbandonRollback(_ => "switch back was not confirmed in time", abortDestination: false));

        During(RollingBackResume,
            When(VmResumed, c => c.Message.HostId == c.Saga.HostId)
                .Then(c => c.Saga.Run.ResumedOnSourceAt = c.Message.ResumedAt).AbortBothSides().FinishFailed(),
            // The path leads to the source again, so both sides can be released; the paused VM needs an operator. (The
            // destination host's late answer to a whole-VM move's ResumeVm is not the source's resume.)
            When(HostOperationFailed, c => c.Message.Operation == HostOperationNames.Resume && c.Message.HostId == c.Saga.HostId)
                .AbandonRollback(c => $"resume on the source failed: {Reason(c.Message)}", abortDestination: true),
            WhenDue(DeadlineExpired).AbandonRollback(_ => "resume on the source was not confirmed in time", abortDestination: true));
    }

    // Succeeded keeps its row for status and ignores everything. Failed records the aborts' acknowledgements, re-sends
    // unconfirmed aborts for a while, and starts over on RetryMigration.
    private void Ended()
    {
        During(Failed,
            When(TransferAborted).Then(c =>
            {
                c.Saga.Run.RecordAborted(c.Message, c.Saga.SourceStorageId, c.Saga.DestinationStorageId);
                StopNudgingWhenConfirmed(c.Saga);
            }),
            // An AbortTransfer (or its TransferAborted) may have been lost: a storage worker answers a duplicate abort
            // with TransferAborted again.
            WhenNudged().IfElse(c => Schedule.MayResendAborts(c.Saga),
                resend => resend.Renudge()
                    .If(c => c.Saga.Run.SourceAbortRequested && c.Saga.Run.SourceAbortedAt is null, abort => abort.SendSourceAbort())
                    .If(c => c.Saga.Run.DestinationAbortRequested && c.Saga.Run.DestinationAbortedAt is null, abort => abort.SendDestinationAbort())
                    .If(c => c.Saga.Run.DiscardPending, discard => discard.SendDiscardIncomingVm()),
                giveUp => giveUp.Then(c => c.Saga.NudgeAtUtc = null)),
            // After an incomplete rollback the VM's path is unconfirmed: retrying could move a disk in use, an operator decides.
            When(RetryMigration, c => !c.Saga.Run.RollbackIncomplete).Then(c => c.Saga.StartNextAttempt()).StartPrepare());
    }

    // Entering a state sets its phase, deadline and nudge time; leaving it for another replaces them.
    private void EnterStates(MigrationSettings settings)
    {
        Entering(Preparing, MigrationPhases.Prepare, () => settings.PrepareTimeout);
        Entering(Indexing, MigrationPhases.Index, () => settings.IndexAndRequestTimeout);
        Entering(Requesting, MigrationPhases.Request, () => settings.IndexAndRequestTimeout);
        Entering(Copying, MigrationPhases.Copy, () => settings.CopyTimeout);
        Entering(Pausing, MigrationPhases.CutOver, () => settings.CutOverTimeout);
        Entering(Switching, MigrationPhases.CutOver, () => settings.CutOverTimeout);
        Entering(Resuming, MigrationPhases.CutOver, () => settings.CutOverTimeout);
        Entering(CompletingTail, MigrationPhases.Tail, () => settings.TailTimeout);
        Entering(RollingBackSwitch, MigrationPhases.Rollback, () => settings.RollbackTimeout);
        Entering(RollingBackResume, MigrationPhases.Rollback, () => settings.RollbackTimeout);
        Entering(MigratingMemory, MigrationPhases.Memory, () => settings.MemoryTimeout);
        Entering(SyncingDisk, MigrationPhases.CutOver, () => settings.CutOverTimeout);
        Entering(ContinuingMemory, MigrationPhases.CutOver, () => settings.CutOverTimeout);
        Entering(StartingOnDestination, MigrationPhases.CutOver, () => settings.CutOverTimeout);
        Entering(Succeeded, MigrationPhases.Succeeded, () => null);
        // A Failed row is nudged only while an AbortTransfer it sent is unacknowledged.
        WhenEnter(Failed, x => x.Then(c =>
            Schedule.Enter(c.Saga, MigrationPhases.Failed, null, c.Saga.Run.AbortsPending ? nameof(Failed) : null)));
    }

    private void Entering(State state, string phase, Func<TimeSpan?> timeout) =>
        WhenEnter(state, x => x.Then(c => Schedule.Enter(c.Saga, phase, timeout(), state.Name)));

    // Whatever a state has no behaviour for it ignores: duplicates, late progress, answers to commands this attempt has
    // not sent, anything after Succeeded/Failed. Derived after every block above, so a new event or handler needs no list.
    private void IgnoreWhatEachStateDoesNotHandle()
    {
        foreach (var state in States.Where(s => !Equals(s, Initial) && !Equals(s, Final)).Select(s => GetState(s.Name)).ToList())
        {
            var handled = state.Events.ToHashSet();
            During(state, Events.Where(e => !handled.Contains(e)).Select(e => Ignore(e)).ToArray());
        }
    }

    // Only the nudge (or expiry) for this state, attempt and time counts; see MigrationSchedule.
    private EventActivityBinder<MigrationState, MigrationNudged> WhenNudged() => When(Nudged, c => Schedule.IsDue(c.Saga, c.Message));

    private EventActivityBinder<MigrationState, MigrationDeadlineExpired> WhenDue(Event<MigrationDeadlineExpired> expired) =>
        When(expired, c => Schedule.IsDue(c.Saga, c.Message));

    private void DeclareEvents()
    {
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
        DeclareWholeVmEvents();
        // Commands about an unknown migration are an operator's mistake: fault them so they show in _error.
        Event(() => CancelMigration, x => { x.CorrelateById(m => m.Message.MigrationId); x.OnMissingInstance(m => m.Fault()); });
        Event(() => RetryMigration, x => { x.CorrelateById(m => m.Message.MigrationId); x.OnMissingInstance(m => m.Fault()); });
    }

    // Worker events about a migration this orchestrator does not know (deleted row, other system) are dropped.
    private void Correlate<T>(Expression<Func<Event<T>>> propertyExpression, Func<T, Guid> id)
        where T : class =>
        Event(propertyExpression, x =>
        {
            x.CorrelateById(m => id(m.Message));
            x.OnMissingInstance(m => m.Discard());
        });
}
