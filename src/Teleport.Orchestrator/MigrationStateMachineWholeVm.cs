using MassTransit;
using Teleport.Contracts;
using static Teleport.Orchestrator.MigrationChecks;

namespace Teleport.Orchestrator;

/// <summary>
/// The whole-VM move's part of the saga (the request named a destination host): the source host describes the VM while
/// the destination storage prepares; the destination host starts the incoming QEMU while the disk is copied; QEMU's
/// memory pre-copy runs beside the disk's copy as soon as the incoming QEMU is ready; at QEMU's pre-switchover the disk's
/// final sync runs, then migrate-continue and ResumeVm together (fenced: all three at once); the destination host runs
/// `cont` as soon as its memory stream completes. The destination's VmResumed is the point of no return.
/// </summary>
public sealed partial class MigrationStateMachine
{
    public State MigratingMemory { get; private set; } = null!;
    public State SyncingDisk { get; private set; } = null!;
    public State ContinuingMemory { get; private set; } = null!;
    public State StartingOnDestination { get; private set; } = null!;

    public Event<VmDescribed> VmDescribed { get; private set; } = null!;
    public Event<IncomingVmPrepared> IncomingVmPrepared { get; private set; } = null!;
    public Event<MemoryMigrationProgress> MemoryMigrationProgress { get; private set; } = null!;
    public Event<MemoryPreSwitchover> MemoryPreSwitchover { get; private set; } = null!;
    public Event<VmMemoryMigrated> VmMemoryMigrated { get; private set; } = null!;
    public Event<IncomingVmDiscarded> IncomingVmDiscarded { get; private set; } = null!;
    public Event<SourceVmStopped> SourceVmStopped { get; private set; } = null!;

    // Preparing (+ VmDescribed) -> Indexing (+ PrepareIncomingVm, then MigrateVmMemory) -> ... -> Copying -> MigratingMemory
    // -> SyncingDisk -> StartingOnDestination (+ ContinueVmMigration and ResumeVm at once) -> Succeeded (+ StopSourceVm).
    private void MoveVm(MigrationSettings settings)
    {
        // The incoming QEMU starts as soon as the VM is described, beside the destination storage's prepare: its start is
        // on the way to the memory pre-copy, the move's longest step. The memory waits for the disk's transfer to start.
        During(Preparing,
            When(VmDescribed, c => DescribedProblem(c.Saga, c.Message) is null)
                .Then(c => c.Saga.Run.Record(c.Message, Schedule.Now()))
                .SendIncomingOnce()
                .StartTransferWhenPrepared(),
            When(VmDescribed, c => DescribedProblem(c.Saga, c.Message) is not null)
                .StartRollback(c => $"unusable VmDescribed: {DescribedProblem(c.Saga, c.Message)}"),
            When(IncomingVmPrepared, c => IncomingProblem(c.Saga, c.Message) is null).Then(c => c.Saga.Run.Record(c.Message)),
            When(IncomingVmPrepared, c => IncomingProblem(c.Saga, c.Message) is not null)
                .StartRollback(c => $"unusable IncomingVmPrepared: {IncomingProblem(c.Saga, c.Message)}"));

        // The incoming VM starts while the disk is copied, and QEMU's memory pre-copy starts beside the disk's copy as soon
        // as it is ready: the disk's index phase leaves the link mostly idle. The memory may reach pre-switchover before the
        // disk's threshold: the final sync then carries the disk's rest (behind the resumed VM when fenced).
        During(Indexing, Requesting, Copying,
            When(IncomingVmPrepared, c => IncomingProblem(c.Saga, c.Message) is null)
                .Then(c => c.Saga.Run.Record(c.Message))
                .StartMemoryMigration()
                .If(c => c.Saga.CurrentState == nameof(Copying) && c.Saga.Run.ThresholdSeen, memory => memory.TransitionTo(MigratingMemory)),
            When(IncomingVmPrepared, c => IncomingProblem(c.Saga, c.Message) is not null)
                .StartRollback(c => $"unusable IncomingVmPrepared: {IncomingProblem(c.Saga, c.Message)}"),
            // Recorded only: the disk's nudge still comes after an interval without disk progress.
            When(MemoryMigrationProgress).Then(c => c.Saga.Run.Record(c.Message)));

        // The disk's dirty tracking continues on the source storage meanwhile. The host takes a duplicate MigrateVmMemory
        // as the same request (it reports the migration already running).
        During(MigratingMemory,
            When(MemoryMigrationProgress).Then(c => c.Saga.Run.Record(c.Message)).Progressed(),
            When(CopyRoundCompleted, c => c.Message.Round > c.Saga.Run.Rounds).Then(c => c.Saga.Run.Record(c.Message)).Progressed(),
            WhenNudged().Renudge().SendMigrateVmMemory());

        During(Indexing, Requesting, Copying, MigratingMemory,
            When(MemoryPreSwitchover).Then(c => c.Saga.Run.Record(c.Message)).SwitchOverMemory());

        // The source's vCPUs are stopped: the disk's final sync and verification is the storage part of the downtime.
        During(SyncingDisk,
            When(MigrationCompleted, c => c.Message.Verified)
                .Then(c => c.Saga.Run.Record(c.Message))
                .ContinueAndResumeAhead(),
            When(MigrationCompleted, c => !c.Message.Verified).Then(c => c.Saga.Run.Record(c.Message))
                .StartRollback(_ => "the destination could not verify that its volume equals the source at pre-switchover"),
            WhenNudged().Renudge().SendFinalSync());

        // Only a row an earlier version left here (it sent ResumeVm after VmMemoryMigrated). The host answers a duplicate
        // ContinueVmMigration of a completed migration with VmMemoryMigrated again.
        During(ContinuingMemory,
            When(VmMemoryMigrated)
                .Then(c => c.Saga.Run.Record(c.Message))
                .SendResumeOnDestination()
                .TransitionTo(StartingOnDestination),
            WhenNudged().Renudge().SendContinueVmMigration());

        // The point of no return: ResumeVm goes with ContinueVmMigration, and the destination host runs `cont` by itself as
        // soon as its incoming memory stream completes, so from here the source is stale. Only the destination host's own
        // report that it did not resume rolls back (its memory stream failed, its disk did not attach, or `cont` failed:
        // all before the guest runs, and it stops that QEMU before it answers); a failed migrate-continue on the source is
        // not enough (the destination may have all of the stream), nor is a cancel, a deadline or a late fault of an earlier
        // step: the deadline re-arms and both commands are asked again, which the hosts answer again. Success needs the
        // destination's VmResumed and the source's VmMemoryMigrated (its figures), in either order. Once the memory went
        // post-copy (MemoryPreSwitchover.PostCopy) not even the destination's own failure rolls back: the destination may run
        // with pages still on the source, which can never resume then (FailInPostCopy; docs/saga.md).
        // In post-copy VmMemoryMigrated comes when the last page reached the destination: only then may the source QEMU quit.
        During(StartingOnDestination,
            When(VmResumed, c => ResumedVerified(c.Saga, c.Message) && c.Saga.Run.MemoryMigratedAt is not null)
                .Then(c => c.Saga.Run.RecordSucceededOnDestination(c.Message, Schedule.Now(), c.Saga.OptionFencedCutover))
                .SucceedOnDestination(),
            When(VmResumed, c => ResumedVerified(c.Saga, c.Message) && c.Saga.Run.MemoryMigratedAt is null)
                .Then(c => c.Saga.Run.RecordResumed(c.Message)),
            When(VmMemoryMigrated)
                .Then(c => c.Saga.Run.Record(c.Message))
                .If(c => c.Saga.Run.ResumedAt is not null && c.Saga.Run.DestinationVerified, resumed => resumed
                    .Then(c => c.Saga.Run.RecordSucceededOnDestination(Schedule.Now(), c.Saga.OptionFencedCutover))
                    .SucceedOnDestination()),
            When(HostOperationFailed, c => DestinationNotResumed(c.Saga, c.Message) && !c.Saga.Run.PostCopy)
                .StartRollback(c => Reason(c.Message)),
            When(HostOperationFailed, c => DestinationNotResumed(c.Saga, c.Message) && c.Saga.Run.PostCopy)
                .FailInPostCopy(c => Reason(c.Message)),
            When(CancelMigration).Then(c => MigrationStateLogger.CancelRefused(_logger, c.Saga.CorrelationId, c.Message.Reason)),
            WhenDue(DeadlineExpired)
                .Then(c => MigrationStateLogger.DestinationStartOverdue(_logger, c.Saga.CorrelationId, settings.CutOverTimeout))
                .Then(c => Schedule.Enter(c.Saga, MigrationPhases.CutOver, settings.CutOverTimeout, nameof(StartingOnDestination)))
                .ResendResumeAhead(),
            WhenNudged().Renudge().ResendResumeAhead());

        FencedTail();

        // A fenced move may resume and verify before the source reported its memory's figures: recorded when they come.
        During(CompletingTail, Succeeded,
            When(VmMemoryMigrated, c => c.Saga.Run.MemoryMigratedAt is null).Then(c => c.Saga.Run.Record(c.Message)));

        During(Succeeded,
            When(SourceVmStopped).Then(c => c.Saga.Run.SourceStoppedAt = c.Message.StoppedAt));

        During(RollingBackSwitch, RollingBackResume,
            When(IncomingVmDiscarded).Then(c => c.Saga.Run.IncomingDiscardedAt = c.Message.DiscardedAt));

        During(Failed,
            When(IncomingVmDiscarded).Then(c =>
            {
                c.Saga.Run.IncomingDiscardedAt = c.Message.DiscardedAt;
                StopNudgingWhenConfirmed(c.Saga);
            }));
    }

    // The fenced cut-over (MigrationOptions.FencedCutover): migrate-continue and ResumeVm went with FinalSync at
    // pre-switchover, so the verdict comes in StartingOnDestination or later; `cont` may have run by then: the destination
    // host's answer decides (ContinuingMemory: a row an earlier version left there, ResumeVm not sent yet, rolls back). Its VmResumed before a verified verdict leads to
    // CompletingTail (the storage-only tail's state: verified -> Succeeded; unverified, TransferFailed, TailTimeout ->
    // Failed, incomplete, only the source aborted, its volume kept); its own resume failure still rolls back.
    private void FencedTail()
    {
        During(ContinuingMemory,
            When(MigrationCompleted).Then(c => c.Saga.Run.Record(c.Message)).If(c => !c.Message.Verified,
                rollback => rollback.StartRollback(_ => "the destination could not verify that its volume equals the source at pre-switchover")));

        During(StartingOnDestination,
            When(MigrationCompleted).Then(c => c.Saga.Run.Record(c.Message)),
            When(VmResumed, c => c.Message.HostId == c.Saga.DestinationHostId && !c.Saga.Run.DestinationVerified)
                .Then(c => c.Saga.Run.RecordResumedBeforeVerdict(c.Message))
                .IfElse(c => c.Saga.Run.CompletedAt is not null,
                    unverified => unverified.FailAfterResume(_ => "the destination could not verify that its volume equals the source at pre-switchover"),
                    tail => tail.TransitionTo(CompletingTail)));
    }

    private static bool DestinationNotResumed(MigrationState saga, HostOperationFailed failed) =>
        failed.HostId == saga.DestinationHostId && failed.Operation == HostOperationNames.Resume;

    private static bool ResumedVerified(MigrationState saga, VmResumed resumed) =>
        resumed.HostId == saga.DestinationHostId && saga.Run.DestinationVerified;

    // A Failed row is nudged only while an abort or discard it sent is unconfirmed.
    private static void StopNudgingWhenConfirmed(MigrationState saga)
    {
        if (!saga.Run.AbortsPending)
        {
            saga.NudgeAtUtc = null;
        }
    }

    private void DeclareWholeVmEvents()
    {
        Correlate(() => VmDescribed, m => m.MigrationId);
        Correlate(() => IncomingVmPrepared, m => m.MigrationId);
        Correlate(() => MemoryMigrationProgress, m => m.MigrationId);
        Correlate(() => MemoryPreSwitchover, m => m.MigrationId);
        Correlate(() => VmMemoryMigrated, m => m.MigrationId);
        Correlate(() => IncomingVmDiscarded, m => m.MigrationId);
        Correlate(() => SourceVmStopped, m => m.MigrationId);
    }
}
