using MassTransit;
using Teleport.Contracts;
using static Teleport.Orchestrator.MigrationChecks;

namespace Teleport.Orchestrator;

/// <summary>
/// The fenced cut-over's tail (storage-only moves with <see cref="MigrationOptions.FencedCutover"/>): the host switched
/// to the destination's fenced volume and the VM resumed there before the destination verified. From that resume on the
/// VM writes on the destination, so nothing rolls back to the source: a tail that fails ends Failed, marked incomplete
/// (no retry: an operator decides), with the source volume kept and only the source side aborted.
/// </summary>
public sealed partial class MigrationStateMachine
{
    public State CompletingTail { get; private set; } = null!;

    // Resuming -> CompletingTail -> Succeeded, or Failed without a rollback.
    private void CompleteTail()
    {
        // Before the resume is confirmed the VM may still be paused on the destination's path: a failed tail rolls back
        // as in Switching (a host that already resumed refuses the switch back, and the rollback ends incomplete).
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
}
