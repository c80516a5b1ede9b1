using MassTransit;

namespace Teleport.Orchestrator;

/// <summary>
/// The whole-VM move's end: migrate-continue on the source and ResumeVm on the destination go together, the destination
/// host running `cont` by itself once its incoming memory stream completes (docs/saga.md, "Whole-VM moves").
/// </summary>
public static class WholeVmTransitions
{
    /// <summary>Sends ContinueVmMigration and ResumeVm at once and enters StartingOnDestination: the point of no return.</summary>
    public static EventActivityBinder<MigrationState, T> ContinueAndResumeAhead<T>(this EventActivityBinder<MigrationState, T> binder)
        where T : class =>
        binder.SendContinueVmMigration().SendResumeOnDestination().TransitionTo(SagaTransitions.Machine(binder).StartingOnDestination);

    /// <summary>A deadline or nudge in StartingOnDestination asks again what has not been answered (each host answers a repeat again).</summary>
    public static EventActivityBinder<MigrationState, T> ResendResumeAhead<T>(this EventActivityBinder<MigrationState, T> binder)
        where T : class =>
        binder.If(c => c.Saga.Run.MemoryMigratedAt is null, memory => memory.SendContinueVmMigration()).SendResumeOnDestination();

    /// <summary>
    /// A failure once the memory went post-copy (migrate-continue sent with post-copy started): the destination may run
    /// with pages still on the source, so the source never resumes. Failed, not rolled back: both QEMUs and the source
    /// volume are left for an operator (docs/saga.md, "Post-copy of a whole VM's memory").
    /// </summary>
    public static EventActivityBinder<MigrationState, T> FailInPostCopy<T>(this EventActivityBinder<MigrationState, T> binder,
        Func<BehaviorContext<MigrationState, T>, string> reason)
        where T : class =>
        binder.Then(c =>
            {
                c.Saga.BeginFailure($"{reason(c)}; the memory had gone post-copy, so the source VM cannot resume: not rolled back, the source VM " +
                                    $"stays paused on host {c.Saga.HostId} and the source volume on storage {c.Saga.SourceStorageId} is kept",
                    SagaTransitions.Machine(binder).Schedule.Now());
                c.Saga.Run.RollbackIncomplete = true;
            })
            .AbortSource()
            .FinishFailed();

    /// <summary>The VM runs on the destination on a verified volume: success, and the stale source QEMU quits.</summary>
    public static EventActivityBinder<MigrationState, T> SucceedOnDestination<T>(this EventActivityBinder<MigrationState, T> binder)
        where T : class =>
        binder.PublishSucceeded().SendStopSourceVm().TransitionTo(SagaTransitions.Machine(binder).Succeeded);
}
