using MassTransit;
using Teleport.Contracts;

namespace Teleport.Cli.Demo;

/// <summary>
/// Follows one migration by the events the workers and the saga publish on the bus, like any other system on the
/// bus would: keeps the figures for the summary, tells <see cref="DemoProgress"/>, and completes when the saga
/// publishes MigrationSucceeded or MigrationFailed. Events of other migrations are ignored.
/// </summary>
public sealed class MigrationWatch(Guid migrationId, DemoProgress progress)
{
    public const string QueueName = "teleport-demo-watch";

    private readonly TaskCompletionSource<MigrationOutcome> _outcome = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _gate = new();

    public Guid MigrationId => migrationId;

    public Task<MigrationOutcome> Outcome => _outcome.Task;

    public IndexStreamed? Index { get; private set; }
    public BlocksRequested? Requested { get; private set; }
    public MigrationCompleted? Completed { get; private set; }
    public VmPaused? Paused { get; private set; }

    /// <summary>A whole-VM move's pause: QEMU stopped the source's vCPUs at pre-switchover.</summary>
    public MemoryPreSwitchover? PreSwitchover { get; private set; }
    public TargetSwitched? Switched { get; private set; }

    /// <summary>A receive endpoint of its own on the bus being configured, subscribed to the migration's events.</summary>
    public void ConfigureEndpoint(IReceiveConfigurator cfg) =>
        cfg.ReceiveEndpoint(QueueName, e =>
        {
            e.Handler<DestinationPrepared>(c => Handle(c.Message.MigrationId, () => progress.Prepared(c.Message)));
            e.Handler<IndexStreamed>(c => Handle(c.Message.MigrationId, () => progress.IndexStreamed(Index = c.Message)));
            e.Handler<BlocksRequested>(c => Handle(c.Message.MigrationId, () => progress.BlocksRequested(Requested = c.Message)));
            e.Handler<CopyRoundCompleted>(c => Handle(c.Message.MigrationId, () => progress.RoundCompleted(c.Message)));
            e.Handler<DirtyBelowThreshold>(c => Handle(c.Message.MigrationId, () => progress.Converged(c.Message)));
            e.Handler<MemoryMigrationProgress>(c => Handle(c.Message.MigrationId, () => progress.MemoryProgress(c.Message)));
            e.Handler<MemoryPreSwitchover>(c => Handle(c.Message.MigrationId, () => progress.PreSwitchover(PreSwitchover = c.Message)));
            e.Handler<VmMemoryMigrated>(c => Handle(c.Message.MigrationId, () => progress.MemoryMigrated(c.Message)));
            e.Handler<VmPaused>(c => Handle(c.Message.MigrationId, () => progress.Paused(Paused = c.Message)));
            e.Handler<TargetSwitched>(c => Handle(c.Message.MigrationId, () => progress.Switched(Switched = c.Message)));
            e.Handler<MigrationCompleted>(c => Handle(c.Message.MigrationId, () => progress.Completed(Completed = c.Message)));
            e.Handler<VmResumed>(c => Handle(c.Message.MigrationId, () => progress.Resumed(c.Message)));
            // Workers' problems are shown as they happen; the saga's MigrationFailed says what it made of them.
            e.Handler<TransferFailed>(c => Handle(c.Message.MigrationId, () => progress.Problem($"storage {c.Message.StorageId} failed in {c.Message.Phase}: {c.Message.Reason}")));
            e.Handler<HostOperationFailed>(c => Handle(c.Message.MigrationId, () => progress.Problem($"host {c.Message.HostId} could not {c.Message.Operation}: {c.Message.Reason}")));
            e.Handler<MigrationSucceeded>(c => Handle(c.Message.MigrationId, () =>
            {
                _outcome.TrySetResult(new MigrationOutcome(c.Message, null));
                progress.Succeeded(c.Message);
            }));
            e.Handler<MigrationFailed>(c => Handle(c.Message.MigrationId, () =>
            {
                _outcome.TrySetResult(new MigrationOutcome(null, c.Message));
                progress.Failed(c.Message);
            }));
        });

    private Task Handle(Guid id, Action record)
    {
        if (id != migrationId)
            return Task.CompletedTask;
        try
        {
            lock (_gate)
                record();
        }
        catch (Exception e)
        {
            // The display must never change what the demo measures or wait for; say so and carry on.
            Serilog.Log.Warning(e, "The demo's progress display failed");
        }

        return Task.CompletedTask;
    }
}
