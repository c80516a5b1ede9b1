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
            ok => ok.Then(c => c.Saga.Run.PrepareSentAt = machine.Schedule.Now()).SendPrepare().TransitionTo(machine.Preparing),
            invalid => invalid
                .Then(c => c.Saga.BeginFailure($"invalid request: {MigrationChecks.RequestProblem(c.Saga)}", machine.Schedule.Now()))
                .FinishFailed());
    }

    /// <summary>Copying starts when both index events are in; a threshold the source reported meanwhile sends the pause straight away.</summary>
    public static EventActivityBinder<MigrationState, T> ContinueToCopying<T>(this EventActivityBinder<MigrationState, T> binder)
        where T : class =>
        binder.IfElse(c => c.Saga.Run.ThresholdSeen,
            pause => pause.SendPause(),
            copying => copying.TransitionTo(Machine(binder).Copying));

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

    /// <summary>The switch (host) and the verified final sync (destination) finish in either order; the second one resumes the VM.</summary>
    public static EventActivityBinder<MigrationState, T> ResumeWhenCutOverReady<T>(this EventActivityBinder<MigrationState, T> binder)
        where T : class =>
        binder.If(c => c.Saga.Run.SwitchConfirmed && c.Saga.Run.DestinationVerified,
            resume => resume.SendResumeVm().TransitionTo(Machine(binder).Resuming));

    /// <summary>Any fault, deadline or cancel before the VM resumes on the destination: undo what was asked for, in reverse.</summary>
    public static EventActivityBinder<MigrationState, T> StartRollback<T>(
        this EventActivityBinder<MigrationState, T> binder, Func<BehaviorContext<MigrationState, T>, string> reason)
        where T : class
    {
        var machine = Machine(binder);
        return binder
            .Then(c => c.Saga.BeginFailure(reason(c), machine.Schedule.Now()))
            .IfElse(c => c.Saga.Run.SwitchRequested,
                switchBack => switchBack.SendSwitchBack().TransitionTo(machine.RollingBackSwitch),
                resume => resume.ContinueRollbackAfterSwitchBack());
    }

    /// <summary>The VM's path leads to the source again: resume it there if it was paused, else release both sides.</summary>
    public static EventActivityBinder<MigrationState, T> ContinueRollbackAfterSwitchBack<T>(this EventActivityBinder<MigrationState, T> binder)
        where T : class =>
        binder.IfElse(c => c.Saga.Run.PauseRequested,
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

    private static MigrationStateMachine Machine<T>(EventActivityBinder<MigrationState, T> binder)
        where T : class =>
        (MigrationStateMachine)binder.StateMachine;
}
