using Teleport.Contracts;
using static Teleport.Orchestrator.Tests.MigrationScript;
using static Teleport.Orchestrator.Tests.SagaTestHost;

namespace Teleport.Orchestrator.Tests;

/// <summary>The workers' side of one whole-VM move (the request names a destination host), and driving the saga to a state.</summary>
public sealed class WholeVmScript(SagaTestHost host, Guid? id = null)
{
    public const string DestinationHost = "host-2";

    public static readonly string[] States =
        ["Preparing", "Indexing", "Requesting", "Copying", "MigratingMemory", "SyncingDisk", "StartingOnDestination", "Succeeded"];

    public static readonly VmDefinition Definition =
        new(["-machine", "pc", "-m", "256", "-device", "virtio-blk-pci,drive=disk0"], "disk0", 1L << 30, 256L << 20);

    /// <summary>The storage workers' events, as a storage-only move has them.</summary>
    public MigrationScript Disk { get; } = new(host, id);

    public Guid Id => Disk.Id;

    public int Attempt
    {
        get => Disk.Attempt;
        set => Disk.Attempt = value;
    }

    public static MigrationRequested WholeVmRequest(Guid id) =>
        Request(id) with { DestinationHostId = DestinationHost, Options = Request(id).Options with { Memory = new MemoryMigrationOptions(true, 4, 300) } };

    /// <summary>The source host's memory pre-copy does not converge: it goes post-copy (no multifd, post-copy after 3 passes).</summary>
    public bool PostCopy { get; init; }

    public static MigrationRequested PostCopyRequest(Guid id) =>
        WholeVmRequest(id) with { Options = Request(id).Options with { Memory = new MemoryMigrationOptions(DowntimeLimitMilliseconds: 300, PostCopyAfterRounds: 3) } };

    public VmDescribed Described() => new(Id, Vm, Host, Definition, Attempt);

    public IncomingVmPrepared IncomingPrepared() => new(Id, Vm, DestinationHost, "10.0.0.12:49152", T0.AddSeconds(25), Attempt);

    public MemoryMigrationProgress Progress(long transferred) =>
        new(Id, Vm, Host, "active", transferred, (256L << 20) - transferred, 256L << 20, 1200, 40, T0.AddSeconds(42), Attempt);

    public MemoryPreSwitchover PreSwitchover() => new(Id, Vm, Host, T0.AddSeconds(50), 270_000_000, Attempt, PostCopy);

    // In post-copy the last page arrives well after the destination resumed (T0 + 50.4 s).
    public VmMemoryMigrated MemoryMigrated() => PostCopy
        ? new(Id, Vm, Host, 300_000_000, 85.5, T0.AddSeconds(57.9), Attempt, PostCopy: true, PostCopyBytes: 30_000_000)
        : new(Id, Vm, Host, 270_500_000, 85.5, T0.AddSeconds(50.3), Attempt);

    public VmResumed ResumedOnDestination() => new(Id, Vm, DestinationHost, T0.AddSeconds(50.4), Attempt);

    public VmResumed ResumedOnSource() => new(Id, Vm, Host, T0.AddSeconds(52), Attempt);

    public HostOperationFailed HostFailed(string operation, string hostId = Host) => new(Id, Vm, hostId, operation, "qmp error", T0.AddSeconds(45), Attempt);

    /// <summary>Publishes the worker events that lead to <paramref name="state"/>, checking each command on the way.</summary>
    /// <remarks><paramref name="start"/>: what starts the attempt (the request, or a RetryMigration).</remarks>
    public async Task DriveTo(string state, object? start = null)
    {
        var sent = Counts();
        object first = start ?? (PostCopy ? PostCopyRequest(Id) : WholeVmRequest(Id));
        await host.Harness.Bus.Publish(first, first.GetType());
        await host.Sent<PrepareDestination>(Id, StorageQueue(Destination), sent.Prepare);
        await host.Sent<DescribeVm>(Id, HostQueue(Host), sent.Describe);
        await host.WaitForState(Id, "Preparing");
        if (Reached(state, "Preparing"))
        {
            return;
        }

        await host.Publish(Disk.Prepared());
        await host.WaitFor(Id, r => r.Run.DestinationReady, "destination prepared");
        await host.Publish(Described());
        await host.Sent<StartTransfer>(Id, StorageQueue(Source), sent.Start);
        await host.Sent<PrepareIncomingVm>(Id, HostQueue(DestinationHost), sent.Incoming);
        await host.WaitForState(Id, "Indexing");
        if (Reached(state, "Indexing"))
        {
            return;
        }

        await host.Publish(Disk.IndexStreamed());
        await host.WaitForState(Id, "Requesting");
        if (Reached(state, "Requesting"))
        {
            return;
        }

        await host.Publish(Disk.BlocksRequested());
        await host.Publish(Disk.Round(1));
        await host.WaitFor(Id, r => r.CurrentState == "Copying" && r.Run.Rounds == 1, "Copying, round 1");
        // The memory migration starts beside the disk's copy as soon as the incoming VM is ready.
        await host.Publish(IncomingPrepared());
        await host.Sent<MigrateVmMemory>(Id, HostQueue(Host), sent.Memory);
        await host.WaitFor(Id, r => r.Run.IncomingReady && r.Run.MemoryMigrationRequested, "incoming VM ready, memory migrating");
        if (Reached(state, "Copying"))
        {
            return;
        }

        await DriveOn("Copying", state);
    }

    /// <summary>From Copying with the incoming VM ready, drives the saga on through the memory states to <paramref name="state"/>.</summary>
    public async Task DriveOn(string from, string state)
    {
        var steps = new (string State, Func<Task> Step)[]
        {
            ("MigratingMemory", () => Enter(Disk.Threshold(), "MigratingMemory")),
            ("SyncingDisk", () => Step<FinalSync>(PreSwitchover(), StorageQueue(Source), "SyncingDisk")),
            // ContinueVmMigration and ResumeVm go together: the destination runs `cont` once its memory stream completes.
            ("StartingOnDestination", () => Step<ResumeVm>(Disk.Completed(), HostQueue(DestinationHost), "StartingOnDestination")),
            ("Succeeded", async () =>
            {
                await host.Publish(MemoryMigrated());
                await host.WaitFor(Id, r => r.Run.MemoryMigratedAt is not null, "memory migrated");
                await Step<StopSourceVm>(ResumedOnDestination(), HostQueue(Host), "Succeeded");
            }),
        };
        int first = Array.FindIndex(steps, s => s.State == from) + 1;
        int last = Array.FindIndex(steps, s => s.State == state);
        if (last < first)
        {
            throw new ArgumentException($"cannot drive from {from} to {state}", nameof(state));
        }

        foreach (var (_, step) in steps[first..(last + 1)])
        {
            await step();
        }

        if (state == "MigratingMemory")
        {
            await host.Publish(Progress(100_000_000));
            await host.WaitFor(Id, r => r.Run.MemoryTransferredBytes == 100_000_000, "memory progress");
        }
    }

    // Publishes a worker event and waits for the command it leads to and the state it leaves the saga in.
    private async Task Step<TCommand>(object message, string queue, string state)
        where TCommand : class
    {
        int before = host.SentCount<TCommand>(Id);
        await host.Harness.Bus.Publish(message, message.GetType());
        await host.Sent<TCommand>(Id, queue, before);
        await host.WaitForState(Id, state);
    }

    // Publishes a worker event that leads to a state without a command (the memory migration already runs).
    private async Task Enter(object message, string state)
    {
        await host.Harness.Bus.Publish(message, message.GetType());
        await host.WaitForState(Id, state);
    }

    // How many of each command this migration was sent before (an earlier attempt's included): the next one is at that index.
    private (int Prepare, int Describe, int Start, int Incoming, int Memory) Counts() =>
        (host.SentCount<PrepareDestination>(Id), host.SentCount<DescribeVm>(Id), host.SentCount<StartTransfer>(Id), host.SentCount<PrepareIncomingVm>(Id),
            host.SentCount<MigrateVmMemory>(Id));

    private static bool Reached(string wanted, string current) => wanted == current;
}
