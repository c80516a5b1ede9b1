using Teleport.Contracts;
using static Teleport.Orchestrator.Tests.SagaTestHost;

namespace Teleport.Orchestrator.Tests;

/// <summary>The workers' side of one migration: the events they would publish, and driving the saga to a given state.</summary>
public sealed class MigrationScript(SagaTestHost host, Guid? id = null)
{
    public static readonly DateTimeOffset T0 = DateTimeOffset.Parse("2026-11-24T22:00:00Z");

    public static readonly string[] States = ["Preparing", "Indexing", "Requesting", "Copying", "Pausing", "Switching", "Resuming"];

    public Guid Id { get; } = id ?? Guid.NewGuid();

    /// <summary>The request <see cref="DriveTo"/> publishes (null: <see cref="SagaTestHost.Request"/>).</summary>
    public MigrationRequested? Requested { get; init; }

    /// <summary>The attempt the workers answer for (a RetryMigration starts the next one).</summary>
    public int Attempt { get; set; } = 1;

    public static string StorageQueue(string id) => WorkerQueues.Storage(id);

    public static string HostQueue(string id) => WorkerQueues.Host(id);

    public DestinationPrepared Prepared() => new(Id, Destination, Volume, "10.0.0.2:7000", "s3cret", "ab12", SagaTestHost.DestinationNbd, DestinationExport, T0.AddSeconds(1), Attempt);

    public IndexStreamed IndexStreamed() => new(Id, 1L << 30, 262_144, 100_000, 5_000_000, T0.AddSeconds(20), Attempt);

    public BlocksRequested BlocksRequested() => new(Id, 150_000, 12_144, T0.AddSeconds(21), Attempt);

    public CopyRoundCompleted Round(int round, long bytes = 10_000_000) =>
        new(Id, round, 1_000, bytes, 50, 80_000_000, T0.AddSeconds(30 + round), Attempt);

    public DirtyBelowThreshold Threshold(int rounds = 2) => new(Id, rounds, 40, false, T0.AddSeconds(40), Attempt);

    public VmPaused Paused() => new(Id, Vm, Host, T0.AddSeconds(50), Attempt);

    public TargetSwitched Switched() => new(Id, Vm, Host, Destination, T0.AddSeconds(50.1), Attempt);

    public MigrationCompleted Completed(bool verified = true) =>
        new(Id, Destination, Volume, verified, 1L << 30, 25_000_000, 150_000, 12_500, 3, T0.AddSeconds(50.2), Attempt);

    public VmResumed Resumed() => new(Id, Vm, Host, T0.AddSeconds(50.35), Attempt);

    public TargetSwitchedBack SwitchedBack() => new(Id, Vm, Host, Source, T0.AddSeconds(51), Attempt);

    public VmResumed ResumedOnSource() => new(Id, Vm, Host, T0.AddSeconds(52), Attempt);

    public TransferFailed TransferFailed(string storage = Source) => new(Id, storage, "copy", "disk read error", T0.AddSeconds(45), Attempt);

    public HostOperationFailed HostFailed(string operation) => new(Id, Vm, Host, operation, "qmp timeout", T0.AddSeconds(45), Attempt);

    /// <summary>Publishes the worker events that lead to <paramref name="state"/>, checking each command on the way.</summary>
    public async Task DriveTo(string state)
    {
        await host.Publish(Requested ?? Request(Id));
        await host.Sent<PrepareDestination>(Id, StorageQueue(Destination));
        await host.WaitForState(Id, "Preparing");
        if (state == "Preparing")
        {
            return;
        }

        await host.Publish(Prepared());
        await host.Sent<StartTransfer>(Id, StorageQueue(Source));
        await host.WaitForState(Id, "Indexing");
        if (state == "Indexing")
        {
            return;
        }

        await host.Publish(IndexStreamed());
        await host.WaitForState(Id, "Requesting");
        if (state == "Requesting")
        {
            return;
        }

        await host.Publish(BlocksRequested());
        await host.WaitForState(Id, "Copying");
        await host.Publish(Round(1));
        await host.WaitFor(Id, r => r.Run.Rounds == 1, "round 1");
        if (state == "Copying")
        {
            return;
        }

        await host.Publish(Threshold());
        await host.Sent<PauseVm>(Id, HostQueue(Host));
        await host.WaitForState(Id, "Pausing");
        if (state == "Pausing")
        {
            return;
        }

        await host.Publish(Paused());
        await host.Sent<SwitchTarget>(Id, HostQueue(Host));
        await host.Sent<FinalSync>(Id, StorageQueue(Source));
        await host.WaitForState(Id, "Switching");
        if (state == "Switching")
        {
            return;
        }

        await host.Publish(Switched());
        await host.WaitFor(Id, r => r.Run.SwitchConfirmed, "switch confirmed");
        await host.Publish(Completed());
        await host.Sent<ResumeVm>(Id, HostQueue(Host));
        await host.WaitForState(Id, "Resuming");
        if (state == "Resuming")
        {
            return;
        }

        throw new ArgumentException($"unknown state {state}", nameof(state));
    }
}
