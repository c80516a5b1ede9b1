using Teleport.Contracts;
using static Teleport.Orchestrator.Tests.MigrationScript;
using static Teleport.Orchestrator.Tests.SagaTestHost;

namespace Teleport.Orchestrator.Tests;

public sealed class MigrationRollbackTests
{
    [Theory]
    [InlineData("Preparing", MigrationPhases.Prepare)]
    [InlineData("Indexing", MigrationPhases.Index)]
    [InlineData("Requesting", MigrationPhases.Request)]
    [InlineData("Copying", MigrationPhases.Copy)]
    public async Task Transfer_failure_before_the_pause_aborts_both_sides_and_fails_with_its_phase(string state, string phase)
    {
        await using var host = await StartAsync();
        var m = new MigrationScript(host);
        await m.DriveTo(state);

        await host.Publish(m.TransferFailed(Destination));

        await ExpectAbortsAndFailure(host, m.Id, phase, "storage dst-1 failed in copy: disk read error");
        var row = await host.Row(m.Id);
        Assert.Equal(state, row!.Run.FailedState);
        Assert.Null(row.Run.Secret); // ended (Failed): no copy of the secret is kept
        Assert.Equal(0, host.SentCount<SwitchBack>(m.Id));
        Assert.Equal(0, host.SentCount<ResumeVm>(m.Id));
        host.AssertNoFaults();
    }

    [Theory]
    [InlineData("", "s3cret", Destination, DestinationNbd, DestinationExport, "no data endpoint")]
    [InlineData("10.0.0.2:7000", " ", Destination, DestinationNbd, DestinationExport, "no secret")]
    [InlineData("10.0.0.2:7000", "s3cret", "dst-other", DestinationNbd, DestinationExport, "not the destination 'dst-1'")]
    [InlineData("10.0.0.2:7000", "s3cret", Destination, "", DestinationExport, "no NBD endpoint for the switch")]
    [InlineData("10.0.0.2:7000", "s3cret", Destination, DestinationNbd, " ", "no export name for the switch")]
    public async Task An_unusable_destination_answer_rolls_back_instead_of_starting_the_source(
        string endpoint, string secret, string storage, string nbd, string export, string reason)
    {
        await using var host = await StartAsync();
        var m = new MigrationScript(host);
        await m.DriveTo("Preparing");

        await host.Publish(m.Prepared() with
        {
            DataEndpoint = endpoint,
            Secret = secret,
            DestinationStorageId = storage,
            NbdEndpoint = nbd,
            ExportName = export,
        });

        await ExpectAbortsAndFailure(host, m.Id, MigrationPhases.Prepare, reason);
        Assert.Equal(0, host.SentCount<StartTransfer>(m.Id));
        host.AssertNoFaults();
    }

    [Fact]
    public async Task Pause_failure_resumes_on_the_source_then_aborts_both_sides()
    {
        await using var host = await StartAsync();
        var m = new MigrationScript(host);
        await m.DriveTo("Pausing");

        await host.Publish(m.HostFailed("pause"));
        Assert.Equal(new ResumeVm(m.Id, Vm, Host), await host.Sent<ResumeVm>(m.Id, HostQueue(Host)));
        var row = await host.WaitForState(m.Id, "RollingBackResume");
        Assert.Equal(MigrationPhases.Rollback, row.Phase);
        Assert.Equal(host.Clock.GetUtcNow().UtcDateTime + TimeSpan.FromSeconds(60), row.DeadlineUtc);
        Assert.Equal(0, host.SentCount<AbortTransfer>(m.Id));
        Assert.Equal(0, host.SentCount<SwitchBack>(m.Id));

        await host.Publish(m.ResumedOnSource());
        await ExpectAbortsAndFailure(host, m.Id, MigrationPhases.CutOver, "host host-1 could not pause: qmp timeout");
        row = await host.Row(m.Id);
        Assert.Equal(m.ResumedOnSource().ResumedAt, row!.Run.ResumedOnSourceAt);
        Assert.Null(row.Run.DowntimeMilliseconds);
        host.AssertNoFaults();
    }

    public static TheoryData<string, string> SwitchedFailures() => new()
    {
        { "Switching", "transfer" },
        { "Switching", "host" },
        { "Switching", "unverified" },
        { "Switching", "cancel" },
        { "Resuming", "host" },
        { "Resuming", "transfer" },
    };

    [Theory]
    [MemberData(nameof(SwitchedFailures))]
    public async Task Failure_after_the_switch_switches_back_resumes_on_the_source_and_aborts(string state, string failure)
    {
        await using var host = await StartAsync();
        var m = new MigrationScript(host);
        await m.DriveTo(state);
        int resumesBefore = host.SentCount<ResumeVm>(m.Id);

        string reason = failure switch
        {
            "transfer" => await PublishReturning(host, m.TransferFailed(Source), "storage src-1 failed in copy: disk read error"),
            "host" => await PublishReturning(host, m.HostFailed("switch"), "host host-1 could not switch: qmp timeout"),
            "unverified" => await PublishReturning(host, m.Completed(verified: false), "could not verify"),
            _ => await PublishReturning(host, new CancelMigration(m.Id, "operator said so"), "cancelled: operator said so"),
        };

        Assert.Equal(new SwitchBack(m.Id, Vm, Host, Volume, Source), await host.Sent<SwitchBack>(m.Id, HostQueue(Host)));
        await host.WaitForState(m.Id, "RollingBackSwitch");
        Assert.Equal(resumesBefore, host.SentCount<ResumeVm>(m.Id));

        await host.Publish(m.SwitchedBack());
        Assert.Equal(new ResumeVm(m.Id, Vm, Host), await host.Sent<ResumeVm>(m.Id, HostQueue(Host), index: resumesBefore));
        await host.WaitForState(m.Id, "RollingBackResume");
        Assert.Equal(0, host.SentCount<AbortTransfer>(m.Id));

        await host.Publish(m.ResumedOnSource());
        await ExpectAbortsAndFailure(host, m.Id, MigrationPhases.CutOver, reason);
        var row = await host.Row(m.Id);
        Assert.Equal(state, row!.Run.FailedState);
        Assert.Equal(m.SwitchedBack().SwitchedBackAt, row.Run.SwitchedBackAt);
        Assert.False(row.Run.RollbackIncomplete);
        Assert.Equal(0, host.PublishedCount<MigrationSucceeded>(m.Id));
        host.AssertNoFaults();
    }

    [Fact]
    public async Task Failed_switch_back_leaves_the_destination_alone_and_blocks_retry()
    {
        await using var host = await StartAsync();
        var m = new MigrationScript(host);
        await m.DriveTo("Switching");
        await host.Publish(m.TransferFailed(Source));
        await host.WaitForState(m.Id, "RollingBackSwitch");

        await host.Publish(m.HostFailed("switch back"));
        var failed = await host.Published<MigrationFailed>(m.Id);
        Assert.Contains("rollback incomplete: switch back failed", failed.Reason);
        var abort = await host.Sent<AbortTransfer>(m.Id, StorageQueue(Source));
        Assert.Equal(Source, abort.StorageId);
        var row = await host.WaitForState(m.Id, "Failed");
        Assert.True(row.Run.RollbackIncomplete);
        Assert.Equal(1, host.SentCount<AbortTransfer>(m.Id));
        Assert.Equal(0, host.SentCount<ResumeVm>(m.Id));

        await host.PublishAndSettle(new RetryMigration(m.Id));
        Assert.Equal(1, host.SentCount<PrepareDestination>(m.Id));
        Assert.Equal("Failed", (await host.Row(m.Id))!.CurrentState);
        host.AssertNoFaults();
    }

    [Fact]
    public async Task A_late_failure_of_the_switch_does_not_abandon_its_switch_back()
    {
        await using var host = await StartAsync();
        var m = new MigrationScript(host);
        await m.DriveTo("Switching");
        await host.Publish(m.TransferFailed(Source));
        await host.WaitForState(m.Id, "RollingBackSwitch");

        // The host's answer to the SwitchTarget arrives after the rollback began: not the switch back's failure.
        await host.PublishAndSettle(m.HostFailed("switch"));
        Assert.Equal("RollingBackSwitch", (await host.Row(m.Id))!.CurrentState);

        await host.Publish(m.SwitchedBack());
        await host.Sent<ResumeVm>(m.Id, HostQueue(Host));
        await host.WaitForState(m.Id, "RollingBackResume");
        await host.Publish(m.Resumed());
        var row = await host.WaitForState(m.Id, "Failed");
        Assert.False(row.Run.RollbackIncomplete);
        host.AssertNoFaults();
    }

    [Fact]
    public async Task Failed_resume_on_the_source_releases_both_sides_but_is_marked_incomplete()
    {
        await using var host = await StartAsync();
        var m = new MigrationScript(host);
        await m.DriveTo("Pausing");
        await host.Publish(new CancelMigration(m.Id, "maintenance"));
        await host.WaitForState(m.Id, "RollingBackResume");

        await host.Publish(m.HostFailed("resume"));
        await ExpectAbortsAndFailure(host, m.Id, MigrationPhases.CutOver, "rollback incomplete: resume on the source failed");
        Assert.True((await host.Row(m.Id))!.Run.RollbackIncomplete);
        host.AssertNoFaults();
    }

    [Fact]
    public async Task Cancel_before_the_pause_aborts_and_later_events_are_ignored()
    {
        await using var host = await StartAsync();
        var m = new MigrationScript(host);
        await m.DriveTo("Copying");

        await host.Publish(new CancelMigration(m.Id, "change window closed"));
        await ExpectAbortsAndFailure(host, m.Id, MigrationPhases.Copy, "cancelled: change window closed");

        // The workers' late events and the abort acknowledgements.
        await host.PublishAndSettle(m.Round(5));
        await host.PublishAndSettle(m.Threshold());
        await host.PublishAndSettle(m.TransferFailed());
        await host.PublishAndSettle(new CancelMigration(m.Id, "again"));
        await host.PublishAndSettle(new TransferAborted(m.Id, Source, T0.AddMinutes(1)));
        await host.PublishAndSettle(new TransferAborted(m.Id, Destination, T0.AddMinutes(2)));

        var row = await host.Row(m.Id);
        Assert.Equal("Failed", row!.CurrentState);
        Assert.Equal(T0.AddMinutes(1), row.Run.SourceAbortedAt);
        Assert.Equal(T0.AddMinutes(2), row.Run.DestinationAbortedAt);
        Assert.Equal("cancelled: change window closed", row.Run.FailureReason);
        Assert.Equal(1, host.PublishedCount<MigrationFailed>(m.Id));
        Assert.Equal(0, host.SentCount<PauseVm>(m.Id));
        host.AssertNoFaults();
    }

    [Fact]
    public async Task Cancel_after_success_is_ignored()
    {
        await using var host = await StartAsync();
        var m = new MigrationScript(host);
        await m.DriveTo("Resuming");
        await host.Publish(m.Resumed());
        await host.WaitForState(m.Id, "Succeeded");

        await host.PublishAndSettle(new CancelMigration(m.Id, "too late"));
        await host.PublishAndSettle(m.HostFailed("resume"));
        await host.PublishAndSettle(new RetryMigration(m.Id));

        Assert.Equal("Succeeded", (await host.Row(m.Id))!.CurrentState);
        Assert.Equal(0, host.SentCount<AbortTransfer>(m.Id));
        host.AssertNoFaults();
    }

    [Fact]
    public async Task Retry_restarts_a_failed_migration_with_the_same_id_and_can_succeed()
    {
        await using var host = await StartAsync();
        var m = new MigrationScript(host);
        await m.DriveTo("Copying");
        await host.Publish(m.TransferFailed());
        await host.WaitForState(m.Id, "Failed");

        await host.Publish(new RetryMigration(m.Id));
        var prepare = await host.Sent<PrepareDestination>(m.Id, StorageQueue(Destination), index: 1);
        Assert.Equal(m.Id, prepare.MigrationId);
        var row = await host.WaitForState(m.Id, "Preparing");
        Assert.Equal(2, row.Attempt);
        Assert.Null(row.Run.FailureReason);
        Assert.Null(row.Run.FailedPhase);
        Assert.Equal(0, row.Run.Rounds);
        Assert.False(row.Run.BlocksRequestedSeen);

        // A late abort acknowledgement of the first attempt does not disturb the second.
        await host.PublishAndSettle(new TransferAborted(m.Id, Destination, T0));
        m.Attempt = 2;
        await host.Publish(m.Prepared());
        await host.Sent<StartTransfer>(m.Id, StorageQueue(Source), index: 1);
        await host.Publish(m.IndexStreamed());
        await host.Publish(m.BlocksRequested());
        await host.WaitForState(m.Id, "Copying");
        await host.Publish(m.Threshold());
        await host.WaitForState(m.Id, "Pausing");
        await host.Publish(m.Paused());
        await host.WaitForState(m.Id, "Switching");
        await host.Publish(m.Switched());
        await host.Publish(m.Completed());
        await host.WaitForState(m.Id, "Resuming");
        await host.Publish(m.Resumed());
        await host.Published<MigrationSucceeded>(m.Id);
        await host.WaitForState(m.Id, "Succeeded");
        host.AssertNoFaults();
    }

    [Theory]
    [InlineData("", "DestinationStorageId '' must be")]
    [InlineData("bad/id", "DestinationStorageId 'bad/id' must be")]
    [InlineData(Source, "source and destination are the same")]
    public async Task A_request_that_cannot_be_carried_out_fails_at_once_without_commands(string destination, string reason)
    {
        await using var host = await StartAsync();
        var id = Guid.NewGuid();

        await host.Publish(Request(id, destination));

        var failed = await host.Published<MigrationFailed>(id);
        Assert.Equal(MigrationPhases.Prepare, failed.Phase);
        Assert.Contains(reason, failed.Reason);
        var row = await host.WaitForState(id, "Failed");
        Assert.Null(row.DeadlineUtc);
        Assert.Equal(0, host.SentCount<PrepareDestination>(id));
        Assert.Equal(0, host.SentCount<AbortTransfer>(id));
        host.AssertNoFaults();
    }

    internal static async Task ExpectAbortsAndFailure(SagaTestHost host, Guid id, string phase, string reason)
    {
        var failed = await host.Published<MigrationFailed>(id);
        Assert.Equal(id, failed.MigrationId);
        Assert.Equal(Vm, failed.VmId);
        Assert.Equal(phase, failed.Phase);
        Assert.Contains(reason, failed.Reason);

        var toSource = await host.Sent<AbortTransfer>(id, StorageQueue(Source));
        var toDestination = await host.Sent<AbortTransfer>(id, StorageQueue(Destination), index: 1);
        Assert.Equal((Source, Volume), (toSource.StorageId, toSource.VolumeId));
        Assert.Equal((Destination, Volume), (toDestination.StorageId, toDestination.VolumeId));
        Assert.Contains(reason, toSource.Reason);

        var row = await host.WaitForState(id, "Failed");
        Assert.Equal(MigrationPhases.Failed, row.Phase);
        Assert.Equal(phase, row.Run.FailedPhase);
        Assert.Contains(reason, row.Run.FailureReason);
        Assert.NotNull(row.Run.FailedAt);
        Assert.Null(row.DeadlineUtc);
    }

    private static async Task<string> PublishReturning<T>(SagaTestHost host, T message, string reason)
        where T : class
    {
        await host.Publish(message);
        return reason;
    }
}
