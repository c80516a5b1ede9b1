using MassTransit;

namespace Teleport.Orchestrator;

/// <summary>
/// The saga's steps that several states share, as binder extensions (<c>.StartPrepare()</c>, <c>.StartRollback(...)</c>):
/// what they record, send and which state they lead to. Rollback undoes in reverse: switch back (if a switch was asked
/// for), resume on the source (if a pause was asked for), then release both storage sides.
/// </summary>
public static class SagaTransitions
{
    /// <summary>A valid request (or retry) sends PrepareDestination; one that cannot be carried out fails at once, before any side effect.</summary>
    public static EventActivityBinder<MigrationState, T> StartPrepare<T>(this EventActivityBinder<MigrationState, T> binder)
        where T : class
    {
        var machine = Machine(binder);
        return binder.IfElse(c => MigrationChecks.RequestProblem(c.Saga) is null,
            ok => ok.Then(c => c.Saga.Run.PrepareSentAt = machine.Schedule.Now()).SendPrepare()
                .If(c => c.Saga.WholeVm, describe => describe.SendDescribeVm())
                .TransitionTo(machine.Preparing),
            invalid => invalid
                .Then(c => c.Saga.BeginFailure($"invalid request: {MigrationChecks.RequestProblem(c.Saga)}", machine.Schedule.Now()))
                .FinishFailed());
    }

    /// <summary>
    /// The source starts when the destination is prepared; a whole-VM move also waits for the VM's definition, and then
    /// has the destination host start the incoming VM alongside.
    /// </summary>
    public static EventActivityBinder<MigrationState, T> StartTransferWhenPrepared<T>(this EventActivityBinder<MigrationState, T> binder)
        where T : class =>
        binder.If(c => !c.Saga.WholeVm || (c.Saga.Run.DestinationReady && c.Saga.Run.VmDescribedSeen),
            start => start.SendStartTransfer()
                .If(c => c.Saga.WholeVm, incoming => incoming.SendIncomingOnce().StartMemoryMigration())
                .TransitionTo(Machine(binder).Indexing));

    /// <summary>Copying starts when both index events are in; a threshold the source reported meanwhile starts the cut-over straight away.</summary>
    public static EventActivityBinder<MigrationState, T> ContinueToCopying<T>(this EventActivityBinder<MigrationState, T> binder)
        where T : class =>
        binder.IfElse(c => c.Saga.Run.ThresholdSeen,
            cutOver => cutOver.StartCutOver(),
            copying => copying.TransitionTo(Machine(binder).Copying));

    /// <summary>
    /// The disk's dirty set is small: a storage-only move pauses the VM; a whole-VM move waits in MigratingMemory for QEMU's
    /// pre-switchover once the incoming VM is ready and its memory migration started (until then it keeps copying).
    /// </summary>
    public static EventActivityBinder<MigrationState, T> StartCutOver<T>(this EventActivityBinder<MigrationState, T> binder)
        where T : class
    {
        var machine = Machine(binder);
        return binder.IfElse(c => !c.Saga.WholeVm,
            pause => pause.PauseWhenPredictionFits(),
            wholeVm => wholeVm.StartMemoryMigration().IfElse(c => c.Saga.Run.IncomingReady,
                memory => memory.TransitionTo(machine.MigratingMemory),
                wait => wait.TransitionTo(machine.Copying)));
    }

    /// <summary>The incoming VM is asked for once per attempt: as soon as the VM is described (its nudges re-send it).</summary>
    public static EventActivityBinder<MigrationState, T> SendIncomingOnce<T>(this EventActivityBinder<MigrationState, T> binder)
        where T : class =>
        binder.If(c => !c.Saga.Run.IncomingRequested, incoming => incoming.SendPrepareIncomingVm());

    /// <summary>A whole-VM move's memory pre-copy starts (once) as soon as the incoming VM is ready, beside the disk's copy.</summary>
    public static EventActivityBinder<MigrationState, T> StartMemoryMigration<T>(this EventActivityBinder<MigrationState, T> binder)
        where T : class
    {
        var machine = Machine(binder);
        return binder.If(c => c.Saga.Run.IncomingReady && !c.Saga.Run.MemoryMigrationRequested,
            memory => memory
                .Then(c =>
                {
                    c.Saga.Run.MemoryMigrationRequested = true;
                    c.Saga.Run.MemorySentAt = machine.Schedule.Now();
                })
                .SendMigrateVmMemory());
    }

    /// <summary>
    /// QEMU stopped the source's vCPUs (pre-switchover): the disk's final sync starts. A verified cut-over continues the
    /// memory once the destination verified; a fenced one at once, the final round and verification streaming behind
    /// the VM resumed on the destination's fenced volume.
    /// </summary>
    public static EventActivityBinder<MigrationState, T> SwitchOverMemory<T>(this EventActivityBinder<MigrationState, T> binder)
        where T : class
    {
        var machine = Machine(binder);
        return binder.SendFinalSync().IfElse(c => c.Saga.OptionFencedCutover,
            fenced => fenced.ContinueAndResumeAhead(),
            verified => verified.TransitionTo(machine.SyncingDisk));
    }

    /// <summary>
    /// The downtime controller decides (<see cref="DowntimeController"/>): pause (a post-copy pauses too: the fenced
    /// cut-over then carries the whole dirty set behind the resumed VM), keep copying (the next round decides again), or
    /// fail a strict migration whose pause cannot fit.
    /// </summary>
    public static EventActivityBinder<MigrationState, T> PauseWhenPredictionFits<T>(this EventActivityBinder<MigrationState, T> binder)
        where T : class
    {
        var machine = Machine(binder);
        return binder.Then(c => machine.Controller.Decide(c.Saga))
            .IfElse(c => c.Saga.Run.Decision is CutOverDecision.Pause or CutOverDecision.PostCopy,
                pause => pause.SendPause(),
                other => other.IfElse(c => c.Saga.Run.Decision == CutOverDecision.Fail,
                    fail => fail.StartRollback(c => DowntimeController.FailureReason(c.Saga)),
                    wait => wait.If(c => c.Saga.CurrentState != nameof(machine.Copying), copy => copy.TransitionTo(machine.Copying))));
    }

    public static EventActivityBinder<MigrationState, T> SendPause<T>(this EventActivityBinder<MigrationState, T> binder)
        where T : class
    {
        var machine = Machine(binder);
        return binder
            .Then(c =>
            {
                c.Saga.Run.PauseRequested = true;
                c.Saga.Run.PauseSentAt = machine.Schedule.Now();
            })
            .SendPauseVm()
            .TransitionTo(machine.Pausing);
    }

    /// <summary>
    /// The switch (host) and the verified final sync (destination) finish in either order; the second one resumes the VM.
    /// A fenced cut-over resumes on the switch alone: the host switches once the destination serves the fenced volume.
    /// </summary>
    public static EventActivityBinder<MigrationState, T> ResumeWhenCutOverReady<T>(this EventActivityBinder<MigrationState, T> binder)
        where T : class =>
        binder.If(c => c.Saga.Run.SwitchConfirmed && (c.Saga.Run.DestinationVerified || c.Saga.OptionFencedCutover),
            resume => resume.SendResumeVm(onDestination: true).TransitionTo(Machine(binder).Resuming));

    /// <summary>The VM runs on the verified destination: publish MigrationSucceeded, release the source volume (and let a whole-VM move's stale source QEMU quit).</summary>
    public static EventActivityBinder<MigrationState, T> Succeed<T>(this EventActivityBinder<MigrationState, T> binder)
        where T : class
    {
        var machine = Machine(binder);
        return binder.Then(c => c.Saga.Run.RecordSucceeded(machine.Schedule.Now())).PublishSucceeded()
            .If(c => c.Saga.WholeVm, stop => stop.SendStopSourceVm())
            .TransitionTo(machine.Succeeded);
    }

    /// <summary>
    /// A fenced cut-over's tail failed after the VM resumed on the destination: nothing can roll back (the VM wrote there).
    /// Failed and incomplete (no retry without an operator); the source side is aborted, its volume kept; the
    /// destination is left alone, still serving the VM.
    /// </summary>
    public static EventActivityBinder<MigrationState, T> FailAfterResume<T>(
        this EventActivityBinder<MigrationState, T> binder, Func<BehaviorContext<MigrationState, T>, string> reason)
        where T : class
    {
        var machine = Machine(binder);
        return binder
            .Then(c =>
            {
                c.Saga.BeginFailure(
                    $"{reason(c)}; after the VM resumed on storage {c.Saga.DestinationStorageId}: not rolled back, the source volume on storage " +
                    $"{c.Saga.SourceStorageId} is kept", machine.Schedule.Now());
                c.Saga.Run.RollbackIncomplete = true;
            })
            .AbortSource()
            .FinishFailed();
    }

    /// <summary>
    /// Any fault, deadline or cancel before the VM resumes on the destination: undo what was asked for, in reverse. An
    /// incoming VM is discarded at once (a Failed row re-sends the discard until it is confirmed).
    /// </summary>
    public static EventActivityBinder<MigrationState, T> StartRollback<T>(
        this EventActivityBinder<MigrationState, T> binder, Func<BehaviorContext<MigrationState, T>, string> reason)
        where T : class
    {
        var machine = Machine(binder);
        return binder
            .Then(c => c.Saga.BeginFailure(reason(c), machine.Schedule.Now()))
            .If(c => c.Saga.Run.IncomingRequested, discard => discard.Then(c => c.Saga.Run.DiscardRequested = true).SendDiscardIncomingVm())
            .IfElse(c => c.Saga.Run.SwitchRequested,
                switchBack => switchBack.SendSwitchBack().TransitionTo(machine.RollingBackSwitch),
                resume => resume.ContinueRollbackAfterSwitchBack());
    }

    /// <summary>
    /// The VM's path leads to the source again: resume it there if it was paused (for a whole-VM move: if its memory
    /// migration was started, which the source host cancels before it resumes), else release both sides.
    /// </summary>
    public static EventActivityBinder<MigrationState, T> ContinueRollbackAfterSwitchBack<T>(this EventActivityBinder<MigrationState, T> binder)
        where T : class =>
        binder.IfElse(c => c.Saga.Run.PauseRequested || c.Saga.Run.MemoryMigrationRequested,
            resume => resume.SendResumeVm().TransitionTo(Machine(binder).RollingBackResume),
            release => release.AbortBothSides().FinishFailed());

    /// <summary>A host step of the rollback failed or timed out: end Failed and incomplete, for an operator to look at.</summary>
    public static EventActivityBinder<MigrationState, T> AbandonRollback<T>(
        this EventActivityBinder<MigrationState, T> binder, Func<BehaviorContext<MigrationState, T>, string> problem, bool abortDestination)
        where T : class
    {
        var marked = binder.Then(c =>
        {
            c.Saga.Run.RollbackIncomplete = true;
            c.Saga.Run.FailureReason = $"{c.Saga.Run.FailureReason}; rollback incomplete: {problem(c)}";
        });
        return (abortDestination ? marked.AbortBothSides() : marked.AbortSource()).FinishFailed();
    }

    // The flags say which sides a Failed row re-sends its abort to until they confirm.
    public static EventActivityBinder<MigrationState, T> AbortSource<T>(this EventActivityBinder<MigrationState, T> binder)
        where T : class =>
        binder.Then(c => c.Saga.Run.SourceAbortRequested = true).SendSourceAbort();

    public static EventActivityBinder<MigrationState, T> AbortBothSides<T>(this EventActivityBinder<MigrationState, T> binder)
        where T : class =>
        binder.AbortSource().Then(c => c.Saga.Run.DestinationAbortRequested = true).SendDestinationAbort();

    public static EventActivityBinder<MigrationState, T> FinishFailed<T>(this EventActivityBinder<MigrationState, T> binder)
        where T : class
    {
        var machine = Machine(binder);
        return binder
            .Then(c => (c.Saga.Run.FailedAt, c.Saga.Run.Secret) = (machine.Schedule.Now(), null))
            .PublishFailed()
            .TransitionTo(machine.Failed);
    }

    /// <summary>Progress in a transfer state postpones the nudge by a whole interval.</summary>
    public static EventActivityBinder<MigrationState, T> Progressed<T>(this EventActivityBinder<MigrationState, T> binder)
        where T : class
    {
        var schedule = Machine(binder).Schedule;
        return binder.Then(c => schedule.Progressed(c.Saga));
    }

    /// <summary>A nudge the state acts on: counted, and the next one scheduled; the caller re-sends what is unanswered.</summary>
    public static EventActivityBinder<MigrationState, T> Renudge<T>(this EventActivityBinder<MigrationState, T> binder)
        where T : class
    {
        var schedule = Machine(binder).Schedule;
        return binder.Then(c => schedule.Renudge(c.Saga));
    }

    internal static MigrationStateMachine Machine<T>(EventActivityBinder<MigrationState, T> binder)
        where T : class =>
        (MigrationStateMachine)binder.StateMachine;
}
