using Teleport.Contracts;
using static Teleport.Orchestrator.Tests.MigrationScript;
using static Teleport.Orchestrator.Tests.SagaTestHost;
using static Teleport.Orchestrator.Tests.WholeVmScript;

namespace Teleport.Orchestrator.Tests;

/// <summary>
/// Whole-VM moves on SQLite and PostgreSQL: every fault before the destination's VmResumed rolls back to the source
/// (cancel the memory migration and cont there, discard the incoming VM, abort both storage sides); after it, nothing does.
/// </summary>
public sealed class WholeVmRollbackTests
{
    public static TheoryData<string, string> Triggers()
    {
        var data = new TheoryData<string, string>();
        foreach (string provider in new[] { "sqlite", "postgres" })
        {
            foreach (string trigger in new[] { "incoming start", "memory beside the index", "migrate memory", "transfer during memory", "deadline", "cancel" })
            {
                data.Add(provider, trigger);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Triggers))]
    public async Task A_fault_before_the_destination_resumes_rolls_back_to_the_source(string provider, string trigger)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        var settings = DefaultSettings();
        await using var host = await StartAsync(settings, database.ConnectionString);
        var m = new WholeVmScript(host);
        var (state, phase, reason) = await Trigger(host, m, settings, trigger);

        // The incoming VM goes at once; the source is asked to cancel its memory migration and cont, if one was started.
        Assert.Equal(new DiscardIncomingVm(m.Id, Vm, DestinationHost), await host.Sent<DiscardIncomingVm>(m.Id, HostQueue(DestinationHost)));
        bool memoryStarted = trigger != "incoming start";
        if (memoryStarted)
        {
            Assert.Equal(new ResumeVm(m.Id, Vm, Host), await host.Sent<ResumeVm>(m.Id, HostQueue(Host)));
            await host.WaitForState(m.Id, "RollingBackResume");
            Assert.Equal(0, host.SentCount<AbortTransfer>(m.Id));

            // A VmResumed from the destination host is not the source's: the rollback waits on.
            await host.PublishAndSettle(m.ResumedOnDestination());
            Assert.Equal("RollingBackResume", (await host.Row(m.Id))!.CurrentState);
            await host.Publish(m.ResumedOnSource());
        }

        var failed = await host.Published<MigrationFailed>(m.Id);
        Assert.Equal(phase, failed.Phase);
        Assert.Contains(reason, failed.Reason);
        await host.Sent<AbortTransfer>(m.Id, StorageQueue(Source));
        await host.Sent<AbortTransfer>(m.Id, StorageQueue(Destination), index: 1);
        var row = await host.WaitForState(m.Id, "Failed");
        Assert.Equal(state, row.Run.FailedState);
        Assert.Equal(memoryStarted ? m.ResumedOnSource().ResumedAt : null, row.Run.ResumedOnSourceAt);
        Assert.False(row.Run.RollbackIncomplete);
        Assert.True(row.Run.DiscardPending);
        Assert.Equal(0, host.PublishedCount<MigrationSucceeded>(m.Id));
        // The incoming VM was never let run.
        Assert.Empty(host.Harness.Sent.Select<ResumeVm>(x => x.Context.Message.MigrationId == m.Id && x.Context.Message.HostId == DestinationHost));

        // The Failed row keeps re-sending the discard (and the aborts) until the destination host confirms it.
        await host.Publish(new IncomingVmDiscarded(m.Id, Vm, DestinationHost, T0.AddSeconds(53), 1));
        await host.Publish(new TransferAborted(m.Id, Source, T0.AddSeconds(53)));
        await host.Publish(new TransferAborted(m.Id, Destination, T0.AddSeconds(53)));
        row = await host.WaitFor(m.Id, r => !r.Run.AbortsPending, "discard and aborts confirmed");
        Assert.Null(row.NudgeAtUtc);
        host.AssertNoFaults();
    }

    // Drives the move to where the trigger strikes and strikes; returns the state it struck in, its phase and the reason expected.
    private static async Task<(string State, string Phase, string Reason)> Trigger(
        SagaTestHost host, WholeVmScript m, MigrationSettings settings, string trigger)
    {
        switch (trigger)
        {
            case "incoming start":
                await m.DriveTo("Indexing");
                await host.Publish(m.HostFailed(HostOperationNames.PrepareIncoming, DestinationHost));
                return ("Indexing", MigrationPhases.Index, "host host-2 could not prepare incoming: qmp error");
            case "memory beside the index":
                // The memory migration starts as soon as the incoming VM is ready, while the disk's index still streams.
                await m.DriveTo("Indexing");
                await host.Publish(m.IncomingPrepared());
                await host.Sent<MigrateVmMemory>(m.Id, HostQueue(Host));
                await host.Publish(m.HostFailed(HostOperationNames.MigrateMemory));
                return ("Indexing", MigrationPhases.Index, "host host-1 could not migrate memory: qmp error");
            case "migrate memory":
                await m.DriveTo("MigratingMemory");
                await host.Publish(m.HostFailed(HostOperationNames.MigrateMemory));
                return ("MigratingMemory", MigrationPhases.Memory, "host host-1 could not migrate memory: qmp error");
            case "transfer during memory":
                await m.DriveTo("MigratingMemory");
                await host.Publish(m.Disk.TransferFailed(Source));
                return ("MigratingMemory", MigrationPhases.Memory, "storage src-1 failed in copy: disk read error");
            case "deadline":
                await m.DriveTo("MigratingMemory");
                host.Clock.Advance(settings.MemoryTimeout);
                Assert.Equal(1, await host.Sweeper.SweepOnceAsync(CancellationToken.None));
                return ("MigratingMemory", MigrationPhases.Memory, "deadline of state MigratingMemory passed");
            default:
                await m.DriveTo("SyncingDisk");
                await host.Publish(new CancelMigration(m.Id, "operator said so"));
                return ("SyncingDisk", MigrationPhases.CutOver, "cancelled: operator said so");
        }
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task After_the_destination_resumed_no_fault_rolls_back(string provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var host = await StartAsync(database: database.ConnectionString);
        var m = new WholeVmScript(host);
        await m.DriveTo("Succeeded");
        int resumes = host.SentCount<ResumeVm>(m.Id);

        await host.PublishAndSettle(m.HostFailed(HostOperationNames.StopSource));
        await host.PublishAndSettle(m.Disk.TransferFailed(Destination));
        await host.PublishAndSettle(new CancelMigration(m.Id, "too late"));
        await host.PublishAndSettle(new MigrationDeadlineExpired(m.Id, "StartingOnDestination", T0, T0));
        await host.PublishAndSettle(m.HostFailed(HostOperationNames.MigrateMemory));

        var row = await host.Row(m.Id);
        Assert.Equal(("Succeeded", null), (row!.CurrentState, row.Run.FailureReason));
        Assert.Equal(resumes, host.SentCount<ResumeVm>(m.Id));
        Assert.Equal((0, 0, 0), (host.SentCount<DiscardIncomingVm>(m.Id), host.SentCount<AbortTransfer>(m.Id), host.PublishedCount<MigrationFailed>(m.Id)));
        Assert.Equal(1, host.PublishedCount<MigrationSucceeded>(m.Id));
        host.AssertNoFaults();
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task Once_cont_is_asked_of_the_destination_cancel_deadline_and_late_faults_roll_nothing_back(string provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        var settings = DefaultSettings();
        await using var host = await StartAsync(settings, database.ConnectionString);
        var m = new WholeVmScript(host);
        await m.DriveTo("StartingOnDestination");
        var firstDeadline = (await host.Row(m.Id))!.DeadlineUtc;

        await host.PublishAndSettle(new CancelMigration(m.Id, "operator changed their mind"));
        await host.PublishAndSettle(m.Disk.TransferFailed(Source));
        await host.PublishAndSettle(m.HostFailed(HostOperationNames.ContinueMemory));
        Assert.Contains(host.Logs.Lines, l => l.Contains("cancel (operator changed their mind) refused", StringComparison.Ordinal));

        // The deadline asks the destination again and re-arms itself instead of rolling back.
        host.Clock.Advance(settings.CutOverTimeout);
        Assert.Equal(1, await host.Sweeper.SweepOnceAsync(CancellationToken.None));
        Assert.Equal(new ResumeVm(m.Id, Vm, DestinationHost), await host.Sent<ResumeVm>(m.Id, HostQueue(DestinationHost), index: 1));
        Assert.Equal(new ContinueVmMigration(m.Id, Vm, Host), await host.Sent<ContinueVmMigration>(m.Id, HostQueue(Host), index: 1));
        var row = await host.WaitFor(m.Id, r => r.DeadlineUtc > firstDeadline, "deadline re-armed");
        Assert.Equal(("StartingOnDestination", null), (row.CurrentState, row.Run.FailureReason));
        Assert.Equal((0, 0, 0), (host.SentCount<DiscardIncomingVm>(m.Id), host.SentCount<AbortTransfer>(m.Id), host.PublishedCount<MigrationFailed>(m.Id)));
        Assert.Empty(host.Harness.Sent.Select<ResumeVm>(x => x.Context.Message.MigrationId == m.Id && x.Context.Message.HostId == Host));

        // The destination's late answer still ends the move where the VM runs, once the source's figures are in too.
        await host.PublishAndSettle(m.ResumedOnDestination());
        Assert.Equal(("StartingOnDestination", 0), ((await host.Row(m.Id))!.CurrentState, host.SentCount<StopSourceVm>(m.Id)));
        await host.Publish(m.MemoryMigrated());
        await host.Sent<StopSourceVm>(m.Id, HostQueue(Host));
        row = await host.WaitForState(m.Id, "Succeeded");
        Assert.Null(row.DeadlineUtc);
        Assert.Equal(DestinationHost, (await host.Published<MigrationSucceeded>(m.Id)).DestinationHostId);
        host.AssertNoFaults();
    }

    [Fact]
    public async Task A_failed_migrate_continue_waits_for_the_destination_whose_failed_resume_rolls_back_to_the_source()
    {
        await using var host = await StartAsync();
        var m = new WholeVmScript(host);
        await m.DriveTo("StartingOnDestination");

        // The source's migrate-continue failed: the destination may still hold the whole stream, so its answer decides.
        await host.PublishAndSettle(m.HostFailed(HostOperationNames.ContinueMemory));
        // A resume failure from the source host is not the destination's: ignored.
        await host.PublishAndSettle(m.HostFailed(HostOperationNames.Resume));
        Assert.Equal("StartingOnDestination", (await host.Row(m.Id))!.CurrentState);
        Assert.Equal((0, 0), (host.SentCount<DiscardIncomingVm>(m.Id), host.SentCount<AbortTransfer>(m.Id)));

        // The destination's stream failed (its QEMU exits), or its disk or `cont` did: it never ran the guest.
        await host.Publish(m.HostFailed(HostOperationNames.Resume, DestinationHost));
        Assert.Equal(new DiscardIncomingVm(m.Id, Vm, DestinationHost), await host.Sent<DiscardIncomingVm>(m.Id, HostQueue(DestinationHost)));
        // The first ResumeVm was the cont asked of the destination; the second resumes the source.
        Assert.Equal(new ResumeVm(m.Id, Vm, Host), await host.Sent<ResumeVm>(m.Id, HostQueue(Host), index: 1));
        var row = await host.WaitForState(m.Id, "RollingBackResume");
        Assert.Equal("StartingOnDestination", row.Run.FailedState);
        Assert.Contains("host host-2 could not resume", row.Run.FailureReason);

        // The destination's answer to a repeated ResumeVm is not the source's resume failing: the rollback goes on.
        await host.PublishAndSettle(m.HostFailed(HostOperationNames.Resume, DestinationHost));
        Assert.Equal(("RollingBackResume", false), ((await host.Row(m.Id))!.CurrentState, (await host.Row(m.Id))!.Run.RollbackIncomplete));
        await host.Publish(m.ResumedOnSource());
        row = await host.WaitForState(m.Id, "Failed");
        Assert.False(row.Run.RollbackIncomplete);
        Assert.Equal(0, host.PublishedCount<MigrationSucceeded>(m.Id));
        host.AssertNoFaults();
    }

    [Fact]
    public async Task A_retried_whole_vm_move_runs_as_the_next_attempt_and_ignores_the_late_answers_of_the_first()
    {
        await using var host = await StartAsync();
        var m = new WholeVmScript(host);
        await m.DriveTo("MigratingMemory");
        await host.Publish(m.HostFailed(HostOperationNames.MigrateMemory));
        await host.WaitForState(m.Id, "RollingBackResume");
        await host.Publish(m.ResumedOnSource());
        await host.WaitForState(m.Id, "Failed");
        var late = (m.PreSwitchover(), m.MemoryMigrated(), m.HostFailed(HostOperationNames.ContinueMemory));

        m.Attempt = 2;
        await m.DriveTo("MigratingMemory", start: new RetryMigration(m.Id));
        Assert.Equal(new DescribeVm(m.Id, Vm, Host, 2), await host.Sent<DescribeVm>(m.Id, HostQueue(Host), index: 1));
        Assert.Equal(2, (await host.Sent<PrepareIncomingVm>(m.Id, HostQueue(DestinationHost), index: 1)).Attempt);

        await host.PublishAndSettle(late.Item1);
        await host.PublishAndSettle(late.Item2);
        await host.PublishAndSettle(late.Item3);
        var row = await host.Row(m.Id);
        Assert.Equal(("MigratingMemory", 2, null), (row!.CurrentState, row.Attempt, row.Run.FailureReason));
        Assert.Null(row.Run.PausedAt);

        await m.DriveOn("MigratingMemory", "Succeeded");
        var succeeded = await host.Published<MigrationSucceeded>(m.Id);
        Assert.Equal(DestinationHost, succeeded.DestinationHostId);
        host.AssertNoFaults();
    }
}
