using Teleport.Contracts;
using static Teleport.Orchestrator.Tests.MigrationScript;
using static Teleport.Orchestrator.Tests.SagaTestHost;

namespace Teleport.Orchestrator.Tests;

/// <summary>
/// Re-drive: a command (or its answer) lost between the saga's save and the worker, e.g. an orchestrator killed
/// before its outbox released it, is sent again when the sweeper's nudge comes, and the migration goes on.
/// </summary>
public sealed class MigrationNudgeTests
{
    private static readonly MigrationSettings Defaults = DefaultSettings();

    // Moves the clock to the row's nudge time and lets the sweeper publish the nudge.
    private static async Task NudgeNow(SagaTestHost host, Guid id)
    {
        var row = await host.Row(id);
        Assert.NotNull(row!.NudgeAtUtc);
        var wait = row.NudgeAtUtc!.Value - host.Clock.GetUtcNow().UtcDateTime;
        if (wait > TimeSpan.Zero)
        {
            host.Clock.Advance(wait);
        }

        int before = host.PublishedCount<MigrationNudged>(id);
        Assert.Equal(1, await host.Sweeper.NudgeOnceAsync(CancellationToken.None));
        await host.WaitFor(id, r => r.Run.Nudges > row.Run.Nudges || r.NudgeAtUtc != row.NudgeAtUtc, "the nudge handled");
        Assert.Equal(before + 1, host.PublishedCount<MigrationNudged>(id));
    }

    // The command was sent once; after the nudge it has been sent a second time, to the same queue.
    private static async Task<T> Resent<T>(SagaTestHost host, Guid id, string queue)
        where T : class
    {
        int count = host.SentCount<T>(id);
        Assert.True(count >= 1, $"{typeof(T).Name} was never sent");
        await NudgeNow(host, id);
        return await host.Sent<T>(id, queue, index: count);
    }

    [Fact]
    public async Task Preparing_resends_PrepareDestination_and_goes_on_when_the_destination_answers()
    {
        await using var host = await StartAsync();
        var m = new MigrationScript(host);
        await m.DriveTo("Preparing");

        // Nothing before the interval.
        host.Clock.Advance(Defaults.PrepareNudgeInterval - TimeSpan.FromMilliseconds(1));
        Assert.Equal(0, await host.Sweeper.NudgeOnceAsync(CancellationToken.None));

        var again = await Resent<PrepareDestination>(host, m.Id, StorageQueue(Destination));
        Assert.Equal((m.Id, Volume, Source, Destination, 1), (again.MigrationId, again.VolumeId, again.SourceStorageId, again.DestinationStorageId, again.Attempt));
        Assert.Equal(1, (await host.Row(m.Id))!.Run.Nudges);

        await host.Publish(m.Prepared());
        await host.Sent<StartTransfer>(m.Id, StorageQueue(Source));
        var row = await host.WaitForState(m.Id, "Indexing");
        Assert.Equal(1, row.Run.Nudges);
        host.AssertNoFaults();
    }

    [Theory]
    [InlineData("Indexing", "Requesting")]
    [InlineData("Requesting", "Copying")]
    [InlineData("Copying", "Pausing")]
    public async Task Transfer_states_resend_StartTransfer_and_go_on(string state, string next)
    {
        await using var host = await StartAsync();
        var m = new MigrationScript(host);
        await m.DriveTo(state);

        host.Clock.Advance(Defaults.TransferNudgeInterval - TimeSpan.FromMilliseconds(1));
        Assert.Equal(0, await host.Sweeper.NudgeOnceAsync(CancellationToken.None));

        var again = await Resent<StartTransfer>(host, m.Id, StorageQueue(Source));
        Assert.Equal((m.Id, Source, Destination, "10.0.0.2:7000", "s3cret", 1),
            (again.MigrationId, again.SourceStorageId, again.DestinationStorageId, again.DataEndpoint, again.Secret, again.Attempt));

        object answer = state switch
        {
            "Indexing" => m.IndexStreamed(),
            "Requesting" => m.BlocksRequested(),
            _ => m.Threshold(),
        };
        await host.Harness.Bus.Publish(answer, answer.GetType());
        await host.WaitForState(m.Id, next);
        Assert.Equal(1, (await host.Row(m.Id))!.Run.Nudges);
        host.AssertNoFaults();
    }

    [Fact]
    public async Task Pausing_resends_PauseVm_and_goes_on()
    {
        await using var host = await StartAsync();
        var m = new MigrationScript(host);
        await m.DriveTo("Pausing");

        host.Clock.Advance(Defaults.CutOverNudgeInterval - TimeSpan.FromMilliseconds(1));
        Assert.Equal(0, await host.Sweeper.NudgeOnceAsync(CancellationToken.None));
        var again = await Resent<PauseVm>(host, m.Id, HostQueue(Host));
        Assert.Equal((m.Id, Vm, Host, 1), (again.MigrationId, again.VmId, again.HostId, again.Attempt));

        await host.Publish(m.Paused());
        await host.Sent<SwitchTarget>(m.Id, HostQueue(Host));
        await host.WaitForState(m.Id, "Switching");
        host.AssertNoFaults();
    }

    [Fact]
    public async Task Switching_resends_both_commands_then_only_the_one_whose_answer_is_missing()
    {
        await using var host = await StartAsync();
        var m = new MigrationScript(host);
        await m.DriveTo("Switching");

        await NudgeNow(host, m.Id);
        var switchAgain = await host.Sent<SwitchTarget>(m.Id, HostQueue(Host), index: 1);
        await host.Sent<FinalSync>(m.Id, StorageQueue(Source), index: 1);
        Assert.Equal((DestinationNbd, DestinationExport, 1), (switchAgain.NbdEndpoint, switchAgain.ExportName, switchAgain.Attempt));

        // The host answered; the destination's MigrationCompleted is still missing: only FinalSync goes again.
        await host.Publish(m.Switched());
        await host.WaitFor(m.Id, r => r.Run.SwitchConfirmed, "switch confirmed");
        await NudgeNow(host, m.Id);
        await host.Sent<FinalSync>(m.Id, StorageQueue(Source), index: 2);
        Assert.Equal(2, host.SentCount<SwitchTarget>(m.Id));

        await host.Publish(m.Completed());
        await host.Sent<ResumeVm>(m.Id, HostQueue(Host));
        var row = await host.WaitForState(m.Id, "Resuming");
        Assert.Equal(2, row.Run.Nudges);
        host.AssertNoFaults();
    }

    [Fact]
    public async Task Switching_resends_only_SwitchTarget_when_the_destination_already_verified()
    {
        await using var host = await StartAsync();
        var m = new MigrationScript(host);
        await m.DriveTo("Switching");
        await host.Publish(m.Completed());
        await host.WaitFor(m.Id, r => r.Run.DestinationVerified, "destination verified");

        await Resent<SwitchTarget>(host, m.Id, HostQueue(Host));
        Assert.Equal(1, host.SentCount<FinalSync>(m.Id));

        await host.Publish(m.Switched());
        await host.WaitForState(m.Id, "Resuming");
        host.AssertNoFaults();
    }

    [Fact]
    public async Task Resuming_resends_ResumeVm_and_succeeds_when_the_host_answers()
    {
        await using var host = await StartAsync();
        var m = new MigrationScript(host);
        await m.DriveTo("Resuming");

        // A re-sent forward resume still names the destination; the rollback's (below) names no storage.
        Assert.Equal(Destination, (await Resent<ResumeVm>(host, m.Id, HostQueue(Host))).StorageId);
        await host.Publish(m.Resumed());
        await host.Published<MigrationSucceeded>(m.Id);
        var row = await host.WaitForState(m.Id, "Succeeded");
        Assert.Null(row.NudgeAtUtc);
        Assert.Equal(1, row.Run.Nudges);
        Assert.Equal(0, await host.Sweeper.NudgeOnceAsync(CancellationToken.None));
        host.AssertNoFaults();
    }

    [Fact]
    public async Task Rollback_resends_SwitchBack_then_ResumeVm_then_the_unconfirmed_aborts()
    {
        await using var host = await StartAsync();
        var m = new MigrationScript(host);
        await m.DriveTo("Switching");
        await host.Publish(m.HostFailed("switch"));
        await host.Sent<SwitchBack>(m.Id, HostQueue(Host));
        await host.WaitForState(m.Id, "RollingBackSwitch");

        host.Clock.Advance(Defaults.RollbackNudgeInterval - TimeSpan.FromMilliseconds(1));
        Assert.Equal(0, await host.Sweeper.NudgeOnceAsync(CancellationToken.None));
        var switchBack = await Resent<SwitchBack>(host, m.Id, HostQueue(Host));
        Assert.Equal((Source, 1), (switchBack.SourceStorageId, switchBack.Attempt));

        await host.Publish(m.SwitchedBack());
        await host.Sent<ResumeVm>(m.Id, HostQueue(Host));
        await host.WaitForState(m.Id, "RollingBackResume");
        Assert.Null((await Resent<ResumeVm>(host, m.Id, HostQueue(Host))).StorageId);

        await host.Publish(m.ResumedOnSource());
        await MigrationRollbackTests.ExpectAbortsAndFailure(host, m.Id, MigrationPhases.CutOver, "host host-1 could not switch");
        Assert.Equal(1, host.PublishedCount<MigrationFailed>(m.Id));

        // Neither side confirmed: both aborts go again. Then the source confirms: only the destination's goes again.
        await NudgeNow(host, m.Id);
        await host.Sent<AbortTransfer>(m.Id, StorageQueue(Source), index: 2);
        await host.Sent<AbortTransfer>(m.Id, StorageQueue(Destination), index: 3);
        await host.PublishAndSettle(new TransferAborted(m.Id, Source, T0.AddSeconds(60), m.Attempt));
        await NudgeNow(host, m.Id);
        var last = await host.Sent<AbortTransfer>(m.Id, StorageQueue(Destination), index: 4);
        Assert.Equal(Destination, last.StorageId);
        Assert.Equal(5, host.SentCount<AbortTransfer>(m.Id));

        // Both confirmed: nothing is due any more, and the migration stays Failed with its one MigrationFailed.
        await host.PublishAndSettle(new TransferAborted(m.Id, Destination, T0.AddSeconds(61), m.Attempt));
        var row = await host.WaitFor(m.Id, r => r.Run.DestinationAbortedAt is not null && r.NudgeAtUtc is null, "both aborts confirmed");
        Assert.Equal(("Failed", 4), (row.CurrentState, row.Run.Nudges));
        host.Clock.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(0, await host.Sweeper.NudgeOnceAsync(CancellationToken.None));
        Assert.Equal(1, host.PublishedCount<MigrationFailed>(m.Id));
        host.AssertNoFaults();
    }

    [Fact]
    public async Task A_rollback_that_left_the_destination_alone_resends_the_abort_to_the_source_only()
    {
        var settings = DefaultSettings();
        settings.RollbackTimeout = TimeSpan.FromSeconds(3);
        settings.RollbackNudgeInterval = TimeSpan.FromSeconds(5);
        await using var host = await StartAsync(settings);
        var m = new MigrationScript(host);
        await m.DriveTo("Switching");
        await host.Publish(m.HostFailed("switch"));
        await host.WaitForState(m.Id, "RollingBackSwitch");
        host.Clock.Advance(TimeSpan.FromSeconds(3.5));
        Assert.Equal(1, await host.Sweeper.SweepOnceAsync(CancellationToken.None));
        var failed = await host.WaitFor(m.Id, r => r.CurrentState == "Failed" && r.Run.RollbackIncomplete, "failed, incomplete");
        Assert.True(failed.Run.SourceAbortRequested);
        Assert.False(failed.Run.DestinationAbortRequested);

        await Resent<AbortTransfer>(host, m.Id, StorageQueue(Source));
        Assert.Equal(2, host.SentCount<AbortTransfer>(m.Id));
        Assert.All(host.Harness.Sent.Select<AbortTransfer>(x => x.Context.Message.MigrationId == m.Id),
            x => Assert.Equal(Source, x.Context.Message.StorageId));
        host.AssertNoFaults();
    }

    [Fact]
    public async Task A_failed_row_stops_resending_aborts_after_the_resend_window()
    {
        await using var host = await StartAsync();
        var m = new MigrationScript(host);
        await m.DriveTo("Copying");
        await host.Publish(new CancelMigration(m.Id, "test"));
        await MigrationRollbackTests.ExpectAbortsAndFailure(host, m.Id, MigrationPhases.Copy, "cancelled: test");

        host.Clock.Advance(Defaults.AbortResendWindow);
        await NudgeNow(host, m.Id);
        var row = await host.WaitFor(m.Id, r => r.NudgeAtUtc is null, "nudges given up");
        Assert.Equal(0, row.Run.Nudges);
        Assert.Equal(2, host.SentCount<AbortTransfer>(m.Id));
        host.AssertNoFaults();
    }

    [Fact]
    public async Task Nudges_for_another_state_attempt_or_time_are_ignored_and_a_duplicate_resends_once()
    {
        await using var host = await StartAsync();
        var m = new MigrationScript(host);
        await m.DriveTo("Pausing");
        var row = await host.Row(m.Id);
        var nudgeAt = new DateTimeOffset(row!.NudgeAtUtc!.Value, TimeSpan.Zero);
        host.Clock.Advance(Defaults.CutOverNudgeInterval);
        var now = host.Clock.GetUtcNow();

        // Another orchestrator's nudge of the state before, of another attempt, of another nudge time.
        await host.PublishAndSettle(new MigrationNudged(m.Id, "Copying", 1, nudgeAt, now));
        await host.PublishAndSettle(new MigrationNudged(m.Id, "Pausing", 2, nudgeAt, now));
        await host.PublishAndSettle(new MigrationNudged(m.Id, "Pausing", 1, nudgeAt.AddMilliseconds(-1), now));
        // One that is not due yet by this orchestrator's clock.
        host.Clock.Advance(TimeSpan.FromSeconds(-1));
        await host.PublishAndSettle(new MigrationNudged(m.Id, "Pausing", 1, nudgeAt, now));
        host.Clock.Advance(TimeSpan.FromSeconds(1));

        var after = await host.Row(m.Id);
        Assert.Equal((row.Version, 0, row.NudgeAtUtc), (after!.Version, after.Run.Nudges, after.NudgeAtUtc));
        Assert.Equal(1, host.SentCount<PauseVm>(m.Id));

        // The real one, delivered twice (two sweepers): one re-send.
        var real = new MigrationNudged(m.Id, "Pausing", 1, nudgeAt, now);
        await host.PublishAndSettle(real);
        await host.PublishAndSettle(real);
        await host.Sent<PauseVm>(m.Id, HostQueue(Host), index: 1);
        Assert.Equal(2, host.SentCount<PauseVm>(m.Id));
        Assert.Equal(1, (await host.Row(m.Id))!.Run.Nudges);

        // After the saga moved on, a nudge of the old state does nothing.
        await host.Publish(m.Paused());
        await host.WaitForState(m.Id, "Switching");
        await host.PublishAndSettle(real with { NudgeAt = nudgeAt.Add(Defaults.CutOverNudgeInterval) });
        Assert.Equal(2, host.SentCount<PauseVm>(m.Id));
        host.AssertNoFaults();
    }

    [Fact]
    public async Task A_nudge_of_an_earlier_attempt_is_ignored_after_a_retry()
    {
        await using var host = await StartAsync();
        var m = new MigrationScript(host);
        await m.DriveTo("Preparing");
        var first = await host.Row(m.Id);
        await host.Publish(new CancelMigration(m.Id, "test"));
        await host.WaitForState(m.Id, "Failed");
        await host.Publish(new RetryMigration(m.Id));
        var retry = await host.WaitFor(m.Id, r => r.CurrentState == "Preparing" && r.Attempt == 2, "attempt 2 preparing");
        Assert.Equal(0, retry.Run.Nudges);
        Assert.False(retry.Run.SourceAbortRequested || retry.Run.DestinationAbortRequested);

        host.Clock.Advance(Defaults.PrepareNudgeInterval);
        int sent = host.SentCount<PrepareDestination>(m.Id);
        await host.PublishAndSettle(new MigrationNudged(m.Id, "Preparing", 1, new DateTimeOffset(retry.NudgeAtUtc!.Value, TimeSpan.Zero), host.Clock.GetUtcNow()));
        await host.PublishAndSettle(new MigrationNudged(m.Id, "Preparing", 1, new DateTimeOffset(first!.NudgeAtUtc!.Value, TimeSpan.Zero), host.Clock.GetUtcNow()));
        Assert.Equal(sent, host.SentCount<PrepareDestination>(m.Id));

        var again = await Resent<PrepareDestination>(host, m.Id, StorageQueue(Destination));
        Assert.Equal(2, again.Attempt);
        host.AssertNoFaults();
    }

    [Fact]
    public async Task Progress_events_keep_postponing_the_nudge_of_a_transfer_state()
    {
        await using var host = await StartAsync();
        var m = new MigrationScript(host);
        await m.DriveTo("Copying");
        var step = Defaults.TransferNudgeInterval * 0.75;

        // A round every three quarters of the interval: never a nudge, long past one interval since Copying began.
        for (int round = 2; round <= 5; round++)
        {
            host.Clock.Advance(step);
            Assert.Equal(0, await host.Sweeper.NudgeOnceAsync(CancellationToken.None));
            await host.Publish(m.Round(round));
            await host.WaitFor(m.Id, r => r.Run.Rounds == round, $"round {round}");
        }

        Assert.Equal(1, host.SentCount<StartTransfer>(m.Id));
        host.Clock.Advance(step);
        Assert.Equal(0, await host.Sweeper.NudgeOnceAsync(CancellationToken.None));

        // Then silence for a whole interval: the nudge comes.
        host.Clock.Advance(Defaults.TransferNudgeInterval - step);
        await NudgeNow(host, m.Id);
        await host.Sent<StartTransfer>(m.Id, StorageQueue(Source), index: 1);
        host.AssertNoFaults();
    }

    [Fact]
    public async Task Indexing_counts_early_destination_events_as_progress()
    {
        await using var host = await StartAsync();
        var m = new MigrationScript(host);
        await m.DriveTo("Indexing");

        host.Clock.Advance(Defaults.TransferNudgeInterval * 0.75);
        await host.Publish(m.BlocksRequested());
        await host.WaitFor(m.Id, r => r.Run.BlocksRequestedSeen, "early BlocksRequested");
        host.Clock.Advance(Defaults.TransferNudgeInterval * 0.75);
        Assert.Equal(0, await host.Sweeper.NudgeOnceAsync(CancellationToken.None));
        Assert.Equal("Indexing", (await host.Row(m.Id))!.CurrentState);
        host.AssertNoFaults();
    }

    [Fact]
    public async Task The_row_counts_every_nudge_that_resent_something()
    {
        await using var host = await StartAsync();
        var m = new MigrationScript(host);
        await m.DriveTo("Pausing");

        for (int n = 1; n <= 3; n++)
        {
            await NudgeNow(host, m.Id);
            await host.Sent<PauseVm>(m.Id, HostQueue(Host), index: n);
            var row = await host.Row(m.Id);
            Assert.Equal(n, row!.Run.Nudges);
            Assert.Equal(host.Clock.GetUtcNow().UtcDateTime + Defaults.CutOverNudgeInterval, row.NudgeAtUtc);
        }

        host.AssertNoFaults();
    }

    [Fact]
    public async Task A_state_past_its_deadline_is_rolled_back_not_nudged()
    {
        var settings = DefaultSettings();
        settings.CutOverTimeout = TimeSpan.FromSeconds(2);
        settings.CutOverNudgeInterval = TimeSpan.FromSeconds(3);
        await using var host = await StartAsync(settings);
        var m = new MigrationScript(host);
        await m.DriveTo("Pausing");

        host.Clock.Advance(TimeSpan.FromSeconds(4));
        Assert.Equal(0, await host.Sweeper.NudgeOnceAsync(CancellationToken.None));
        Assert.Equal(1, await host.Sweeper.SweepOnceAsync(CancellationToken.None));
        await host.WaitForState(m.Id, "RollingBackResume");
        Assert.Equal(1, host.SentCount<PauseVm>(m.Id));
        host.AssertNoFaults();
    }

    [Fact]
    public async Task The_running_sweeper_redrives_a_lost_pause_by_itself()
    {
        var settings = DefaultSettings();
        settings.SweepInterval = TimeSpan.FromMilliseconds(50);
        await using var host = await StartAsync(settings);
        var m = new MigrationScript(host);
        await m.DriveTo("Pausing");

        await host.Sweeper.StartAsync(CancellationToken.None);
        try
        {
            host.Clock.Advance(settings.CutOverNudgeInterval);
            await host.Sent<PauseVm>(m.Id, HostQueue(Host), index: 1);
            await host.Publish(m.Paused());
            await host.WaitForState(m.Id, "Switching");
        }
        finally
        {
            await host.Sweeper.StopAsync(CancellationToken.None);
        }

        host.AssertNoFaults();
    }
}
