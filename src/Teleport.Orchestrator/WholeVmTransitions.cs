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

    /// <summary>The VM runs on the destination on a verified volume: success, and the stale source QEMU quits.</summary>
    public static EventActivityBinder<MigrationState, T> SucceedOnDestination<T>(this EventActivityBinder<MigrationState, T> binder)
        where T : class =>
        binder.PublishSucceeded().SendStopSourceVm().TransitionTo(SagaTransitions.Machine(binder).Succeeded);
}
