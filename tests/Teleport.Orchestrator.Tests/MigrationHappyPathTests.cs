using Teleport.Contracts;
using static Teleport.Orchestrator.Tests.MigrationScript;
using static Teleport.Orchestrator.Tests.SagaTestHost;

namespace Teleport.Orchestrator.Tests;

public sealed class MigrationHappyPathTests
{
    [Fact]
    public async Task Every_step_sends_the_next_command_to_the_right_queue_and_success_is_published_with_figures()
    {
        await using var host = await StartAsync();
        var m = new MigrationScript(host);

        await host.Publish(Request(m.Id));
        var prepare = await host.Sent<PrepareDestination>(m.Id, StorageQueue(Destination));
        Assert.Equal(new PrepareDestination(m.Id, Volume, Source, Destination, new MigrationOptions(BlockSize: 4096, MaxCopyRounds: 5), AllowedClient: Host), prepare);
        var row = await host.WaitForState(m.Id, "Preparing");
        Assert.Equal(MigrationPhases.Prepare, row.Phase);
        Assert.Equal(host.Clock.GetUtcNow().UtcDateTime + TimeSpan.FromSeconds(60), row.DeadlineUtc);
        Assert.Equal(1, row.Attempt);

        await host.Publish(m.Prepared());
        var start = await host.Sent<StartTransfer>(m.Id, StorageQueue(Source));
        Assert.Equal(new StartTransfer(m.Id, Volume, Source, Destination, "10.0.0.2:7000", "s3cret", "ab12", prepare.Options), start);
        row = await host.WaitForState(m.Id, "Indexing");
        Assert.Equal(MigrationPhases.Index, row.Phase);
        Assert.Equal("s3cret", row.Run.Secret); // kept while the source may need StartTransfer again
        Assert.Equal(host.Clock.GetUtcNow().UtcDateTime + TimeSpan.FromMinutes(30), row.DeadlineUtc);

        await host.Publish(m.IndexStreamed());
        row = await host.WaitForState(m.Id, "Requesting");
        Assert.Equal(262_144, row.Run.Blocks);
        Assert.Equal(100_000, row.Run.ZeroBlocks);

        await host.Publish(m.BlocksRequested());
        row = await host.WaitForState(m.Id, "Copying");
        Assert.Equal(150_000, row.Run.BlocksFromIndex);
        Assert.Equal(host.Clock.GetUtcNow().UtcDateTime + TimeSpan.FromHours(6), row.DeadlineUtc);

        await host.Publish(m.Round(1, bytes: 10_000_000));
        await host.WaitFor(m.Id, r => r.Run.Rounds == 1, "round 1");
        await host.Publish(m.Round(2, bytes: 4_000_000));
        row = await host.WaitFor(m.Id, r => r.Run.Rounds == 2, "round 2");
        Assert.Equal(14_000_000, row.Run.BytesOnWire);
        Assert.Equal(2_000, row.Run.BlocksSent);

        await host.Publish(m.Threshold());
        // The pause names where the switch will lead (the host connects there first) and the default 5 s budget.
        Assert.Equal(new PauseVm(m.Id, Vm, Host, 1, Destination, DestinationNbd, DestinationExport, 5000), await host.Sent<PauseVm>(m.Id, HostQueue(Host)));
        row = await host.WaitForState(m.Id, "Pausing");
        Assert.Equal(MigrationPhases.CutOver, row.Phase);
        Assert.Equal(host.Clock.GetUtcNow().UtcDateTime + TimeSpan.FromSeconds(30), row.DeadlineUtc);

        await host.Publish(m.Paused());
        Assert.Equal(new SwitchTarget(m.Id, Vm, Host, Volume, Destination, DestinationNbd, DestinationExport), await host.Sent<SwitchTarget>(m.Id, HostQueue(Host)));
        Assert.Equal(new FinalSync(m.Id, Volume, Source), await host.Sent<FinalSync>(m.Id, StorageQueue(Source)));
        await host.WaitForState(m.Id, "Switching");

        await host.Publish(m.Switched());
        row = await host.WaitFor(m.Id, r => r.Run.SwitchConfirmed, "switch confirmed");
        Assert.Equal("Switching", row.CurrentState);
        Assert.Equal(0, host.SentCount<ResumeVm>(m.Id));

        await host.Publish(m.Completed());
        // Forward, the resume holds only while the path leads to the destination.
        Assert.Equal(new ResumeVm(m.Id, Vm, Host, StorageId: Destination), await host.Sent<ResumeVm>(m.Id, HostQueue(Host)));
        await host.WaitForState(m.Id, "Resuming");

        await host.Publish(m.Resumed());
        var succeeded = await host.Published<MigrationSucceeded>(m.Id);
        Assert.Equal(m.Id, succeeded.MigrationId);
        Assert.Equal(Vm, succeeded.VmId);
        Assert.Equal(Volume, succeeded.VolumeId);
        Assert.Equal(Destination, succeeded.DestinationStorageId);
        Assert.Equal(1L << 30, succeeded.VolumeBytes);
        Assert.Equal(25_000_000, succeeded.BytesOnWire);
        Assert.Equal(150_000, succeeded.BlocksFromIndex);
        Assert.Equal(3, succeeded.Rounds);
        Assert.Equal(350, succeeded.DowntimeMilliseconds, precision: 3);
        // Predicted at the threshold: 20 ms local + 40 dirty blocks at 7,000 wire bytes each over 80 MB/s (no round trip reported).
        Assert.Equal(23.5, succeeded.PredictedDowntimeMilliseconds);
        // The destination is authoritative now: the source is told to retain (or keep) its old volume.
        Assert.Equal(new ReleaseSourceVolume(m.Id, Volume, Source, 1), await host.Sent<ReleaseSourceVolume>(m.Id, StorageQueue(Source)));

        row = await host.WaitForState(m.Id, "Succeeded");
        Assert.Equal(MigrationPhases.Succeeded, row.Phase);
        Assert.Null(row.Run.Secret); // the migration ended: the saga keeps no copy of the data channel's secret
        Assert.Null(row.DeadlineUtc);
        Assert.Equal(m.Paused().PausedAt, row.Run.PausedAt);
        Assert.Equal(m.Resumed().ResumedAt, row.Run.ResumedAt);
        Assert.Equal(m.Prepared().PreparedAt, row.Run.PreparedAt);
        Assert.Equal(m.IndexStreamed().StreamedAt, row.Run.IndexStreamedAt);
        Assert.Equal(m.Completed().CompletedAt, row.Run.CompletedAt);
        Assert.True(row.Run.Verified);
        Assert.Null(row.Run.FailureReason);
        Assert.Equal(0, host.PublishedCount<MigrationFailed>(m.Id));
        Assert.Equal(0, host.SentCount<AbortTransfer>(m.Id));
        host.AssertNoFaults();
    }

    [Fact]
    public async Task Destination_completing_before_the_switch_is_confirmed_still_resumes_once()
    {
        await using var host = await StartAsync();
        var m = new MigrationScript(host);
        await m.DriveTo("Switching");

        await host.Publish(m.Completed());
        await host.WaitFor(m.Id, r => r.Run.DestinationVerified, "destination verified");
        Assert.Equal(0, host.SentCount<ResumeVm>(m.Id));

        await host.Publish(m.Switched());
        await host.Sent<ResumeVm>(m.Id, HostQueue(Host));
        await host.WaitForState(m.Id, "Resuming");

        // Duplicates of either are ignored: no second ResumeVm.
        await host.PublishAndSettle(m.Switched());
        await host.PublishAndSettle(m.Completed());
        Assert.Equal(1, host.SentCount<ResumeVm>(m.Id));

        await host.PublishAndSettle(m.Resumed());
        await host.Published<MigrationSucceeded>(m.Id);
        await host.WaitForState(m.Id, "Succeeded");
        await host.PublishAndSettle(m.Resumed());
        Assert.Equal(1, host.PublishedCount<MigrationSucceeded>(m.Id));
        host.AssertNoFaults();
    }

    [Fact]
    public async Task Blocks_requested_before_index_streamed_goes_straight_to_copying()
    {
        await using var host = await StartAsync();
        var m = new MigrationScript(host);
        await m.DriveTo("Indexing");

        await host.Publish(m.BlocksRequested());
        var row = await host.WaitFor(m.Id, r => r.Run.BlocksRequestedSeen, "blocks requested recorded");
        Assert.Equal("Indexing", row.CurrentState);

        await host.Publish(m.IndexStreamed());
        await host.WaitForState(m.Id, "Copying");
        host.AssertNoFaults();
    }

    [Fact]
    public async Task Threshold_reported_before_the_request_arrives_pauses_as_soon_as_it_does()
    {
        await using var host = await StartAsync();
        var m = new MigrationScript(host);
        await m.DriveTo("Requesting");

        await host.Publish(m.Round(1));
        await host.Publish(m.Threshold(rounds: 1));
        await host.WaitFor(m.Id, r => r.Run.ThresholdSeen && r.Run.Rounds == 1, "threshold recorded");
        Assert.Equal(0, host.SentCount<PauseVm>(m.Id));

        await host.Publish(m.BlocksRequested());
        await host.Sent<PauseVm>(m.Id, HostQueue(Host));
        await host.WaitForState(m.Id, "Pausing");
        host.AssertNoFaults();
    }

    [Fact]
    public async Task Duplicate_index_streamed_after_blocks_requested_is_ignored()
    {
        await using var host = await StartAsync();
        var m = new MigrationScript(host);
        await m.DriveTo("Copying");

        await host.PublishAndSettle(m.IndexStreamed());
        await host.PublishAndSettle(m.BlocksRequested());
        await host.PublishAndSettle(m.Prepared());
        await host.PublishAndSettle(Request(m.Id));

        var row = await host.Row(m.Id);
        Assert.Equal("Copying", row!.CurrentState);
        Assert.Equal(1, host.SentCount<StartTransfer>(m.Id));
        Assert.Equal(1, host.SentCount<PrepareDestination>(m.Id));
        host.AssertNoFaults();
    }

    [Fact]
    public async Task A_repeated_or_older_round_is_counted_once()
    {
        await using var host = await StartAsync();
        var m = new MigrationScript(host);
        await m.DriveTo("Copying");

        await host.Publish(m.Round(2, bytes: 3_000));
        await host.WaitFor(m.Id, r => r.Run.Rounds == 2, "round 2");
        await host.PublishAndSettle(m.Round(2, bytes: 3_000));
        await host.PublishAndSettle(m.Round(1));

        var row = await host.Row(m.Id);
        Assert.Equal(2, row!.Run.Rounds);
        Assert.Equal(10_000_000 + 3_000, row.Run.BytesOnWire);
        host.AssertNoFaults();
    }

    [Theory]
    [InlineData("Pausing")]
    [InlineData("Switching")]
    [InlineData("Resuming")]
    public async Task Late_copy_round_and_threshold_during_cut_over_are_ignored(string state)
    {
        await using var host = await StartAsync();
        var m = new MigrationScript(host);
        await m.DriveTo(state);
        var before = await host.Row(m.Id);

        await host.PublishAndSettle(m.Round(7));
        await host.PublishAndSettle(m.Threshold(rounds: 7));
        if (state != "Pausing")
        {
            await host.PublishAndSettle(m.Paused());
        }

        var after = await host.Row(m.Id);
        Assert.Equal(state, after!.CurrentState);
        Assert.Equal(before!.Run.Rounds, after.Run.Rounds);
        Assert.Equal(before.Version, after.Version);
        Assert.Equal(1, host.SentCount<PauseVm>(m.Id));
        host.AssertNoFaults();
    }

    [Fact]
    public async Task Duplicate_request_creates_nothing_new()
    {
        await using var host = await StartAsync();
        var m = new MigrationScript(host);
        await m.DriveTo("Preparing");

        await host.PublishAndSettle(Request(m.Id));

        Assert.Equal(1, host.SentCount<PrepareDestination>(m.Id));
        Assert.Equal("Preparing", (await host.Row(m.Id))!.CurrentState);
        host.AssertNoFaults();
    }

    [Fact]
    public async Task Events_for_an_unknown_migration_are_dropped_and_commands_fault()
    {
        await using var host = await StartAsync();
        var m = new MigrationScript(host);

        await host.PublishAndSettle(m.IndexStreamed());
        Assert.Null(await host.Row(m.Id));

        // A faulted command lands in the _error queue, where operators see it.
        await host.PublishAndSettle(new CancelMigration(m.Id, "typo"));
        var consumed = host.Harness.Consumed.Select<CancelMigration>(c => c.Context.Message.MigrationId == m.Id).Single();
        Assert.NotNull(consumed.Exception);
        Assert.Null(await host.Row(m.Id));
    }
}
