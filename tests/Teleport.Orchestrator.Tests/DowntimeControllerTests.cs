using Teleport.Contracts;
using static Teleport.Orchestrator.Tests.MigrationScript;
using static Teleport.Orchestrator.Tests.SagaTestHost;

namespace Teleport.Orchestrator.Tests;

/// <summary>
/// The downtime controller on the saga: a storage-only move pauses only when the predicted pause fits MaxDowntime,
/// keeps copying while a later round may bring it down, and then pauses anyway or (strict) fails before any pause.
/// </summary>
public sealed class DowntimeControllerTests
{
    // 1,000 blocks per round at 4,096 wire bytes each over 12.5 MB/s (100 Mbit/s), rounds a second apart.
    private static CopyRoundCompleted Round(MigrationScript m, int round, long dirty, double roundTripMs) =>
        new(m.Id, round, 1_000, 4_096_000, dirty, 12_500_000, T0.AddSeconds(30 + round), m.Attempt, roundTripMs);

    private static DirtyBelowThreshold Threshold(MigrationScript m, int rounds, long dirty) => new(m.Id, rounds, dirty, false, T0.AddSeconds(40), m.Attempt);

    private static async Task CopyingAsync(SagaTestHost host, MigrationScript m, int? maxDowntimeMs, bool strict, bool fenced = false)
    {
        var request = Request(m.Id);
        await host.Publish(request with
        {
            Options = request.Options with
            {
                MaxDowntimeMilliseconds = maxDowntimeMs,
                StrictMaxDowntime = strict,
                FencedCutover = fenced,
                VolumeBytes = fenced ? 1L << 30 : null,
            },
        });
        await host.Publish(m.Prepared());
        await host.Publish(m.IndexStreamed());
        await host.Publish(m.BlocksRequested());
        await host.WaitForState(m.Id, "Copying");
    }

    [Fact]
    public async Task Keeps_copying_until_a_round_brings_the_predicted_pause_under_MaxDowntime_then_reports_it()
    {
        await using var host = await StartAsync();
        var m = new MigrationScript(host);
        await CopyingAsync(host, m, maxDowntimeMs: null, strict: false);

        // 10 ms round trip: fixed 20 + 2 x 10 = 40 ms; 500 dirty blocks (no dirty rate known after one round) cost 163.84 ms more.
        await host.Publish(Round(m, 1, dirty: 500, roundTripMs: 10));
        await host.Publish(Threshold(m, 1, dirty: 500));
        var row = await host.WaitFor(m.Id, r => r.Run.DowntimeWaitRounds == 1, "the controller to wait");
        Assert.Equal("Copying", row.CurrentState);
        Assert.Equal(203.8, row.Run.PredictedDowntimeMilliseconds!.Value, precision: 1);
        Assert.Equal(0, host.SentCount<PauseVm>(m.Id));

        // 50 dirty blocks (+ 50/s x 10 ms) cost 16.5 ms: 56.5 ms fits.
        await host.Publish(Round(m, 2, dirty: 50, roundTripMs: 10));
        await host.Sent<PauseVm>(m.Id, HostQueue(Host));
        row = await host.WaitForState(m.Id, "Pausing");
        Assert.Equal(56.5, row.Run.PredictedDowntimeMilliseconds!.Value, precision: 1);
        Assert.Equal(10, row.Run.RoundTripMilliseconds);

        await host.Publish(m.Paused());
        await host.Publish(m.Switched());
        await host.Publish(m.Completed());
        await host.Publish(m.Resumed());
        var succeeded = await host.Published<MigrationSucceeded>(m.Id);
        Assert.Equal(56.5, succeeded.PredictedDowntimeMilliseconds!.Value, precision: 1);
        Assert.Equal(350, succeeded.DowntimeMilliseconds, precision: 3);
        host.AssertNoFaults();
    }

    [Fact]
    public async Task A_round_trip_alone_over_MaxDowntime_pauses_at_once_when_waiting_cannot_help()
    {
        await using var host = await StartAsync();
        var m = new MigrationScript(host);
        await CopyingAsync(host, m, maxDowntimeMs: 100, strict: false);

        // 50 ms round trip: 120 ms fixed, whatever the dirty set.
        await host.Publish(Round(m, 1, dirty: 0, roundTripMs: 50));
        await host.Publish(Threshold(m, 1, dirty: 0));
        await host.Sent<PauseVm>(m.Id, HostQueue(Host));
        var row = await host.WaitForState(m.Id, "Pausing");
        Assert.Equal(120, row.Run.PredictedDowntimeMilliseconds);
        Assert.Equal(0, row.Run.DowntimeWaitRounds);
    }

    [Fact]
    public async Task A_threshold_that_overtakes_its_round_still_brings_the_round_trip()
    {
        await using var host = await StartAsync();
        var m = new MigrationScript(host);
        await CopyingAsync(host, m, maxDowntimeMs: 100, strict: false);

        // Events of different types may arrive out of order: the threshold first, its round's figures never before the decision.
        await host.Publish(Threshold(m, 1, dirty: 0) with { RoundTripMilliseconds = 50 });
        await host.Sent<PauseVm>(m.Id, HostQueue(Host));
        var row = await host.WaitForState(m.Id, "Pausing");
        Assert.Equal(50, row.Run.RoundTripMilliseconds);
        Assert.Equal(120, row.Run.PredictedDowntimeMilliseconds);
    }

    [Fact]
    public async Task Strict_MaxDowntime_fails_before_any_pause_when_the_prediction_cannot_fit()
    {
        await using var host = await StartAsync();
        var m = new MigrationScript(host);
        await CopyingAsync(host, m, maxDowntimeMs: 100, strict: true);

        await host.Publish(Round(m, 1, dirty: 0, roundTripMs: 50));
        await host.Publish(Threshold(m, 1, dirty: 0));
        var failed = await host.Published<MigrationFailed>(m.Id);
        Assert.Equal(MigrationPhases.Copy, failed.Phase);
        Assert.Contains("predicted downtime of 120 ms does not fit MaxDowntime 100 ms", failed.Reason);
        await host.WaitForState(m.Id, "Failed");
        Assert.Equal(0, host.SentCount<PauseVm>(m.Id));
        Assert.Equal(2, host.SentCount<AbortTransfer>(m.Id));
    }

    [Theory]
    [InlineData(false, "Pausing")]
    [InlineData(true, "Failed")]
    [InlineData(true, "Pausing", true)] // fenced: post-copy instead of failing
    public async Task A_guest_dirtying_faster_than_the_link_gets_its_wait_rounds_then_pauses_or_fails(bool strict, string end, bool fenced = false)
    {
        var settings = DefaultSettings();
        settings.DowntimeWaitRounds = 2;
        await using var host = await StartAsync(settings);
        var m = new MigrationScript(host);
        await CopyingAsync(host, m, maxDowntimeMs: 100, strict, fenced);

        await host.Publish(Round(m, 1, dirty: 5_000, roundTripMs: 5));
        await host.Publish(Threshold(m, 1, dirty: 5_000));
        await host.WaitFor(m.Id, r => r.Run.DowntimeWaitRounds == 1, "the first wait");
        await host.Publish(Round(m, 2, dirty: 5_000, roundTripMs: 5));
        await host.WaitFor(m.Id, r => r.Run.DowntimeWaitRounds == 2, "the second wait");
        Assert.Equal(0, host.SentCount<PauseVm>(m.Id));

        await host.Publish(Round(m, 3, dirty: 5_000, roundTripMs: 5));
        // The row commits before the outbox hands PauseVm over: wait for the command, then count.
        if (!strict || fenced)
            await host.Sent<PauseVm>(m.Id, HostQueue(Host));
        var row = await host.WaitForState(m.Id, end);
        Assert.Equal(strict && !fenced ? 0 : 1, host.SentCount<PauseVm>(m.Id));
        Assert.True(row.Run.PredictedDowntimeMilliseconds > 1_000);
        Assert.Equal(fenced, row.Run.PostCopy);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Fenced_rounds_that_stop_shrinking_the_dirty_set_go_post_copy_without_a_threshold_and_it_is_reported(bool fenced)
    {
        var settings = DefaultSettings();
        settings.PostCopyAfterRounds = 3;
        await using var host = await StartAsync(settings);
        var m = new MigrationScript(host);
        await CopyingAsync(host, m, maxDowntimeMs: 100, strict: false, fenced);

        // The smallest dirty set is round 2's; rounds 3 and 4 do not beat it: still copying.
        long[] dirty = [5_000, 4_000, 4_500, 4_200];
        for (int round = 1; round <= dirty.Length; round++)
            await host.PublishAndSettle(Round(m, round, dirty[round - 1], roundTripMs: 5));
        Assert.Equal(0, host.SentCount<PauseVm>(m.Id));

        // Round 5 is the third without a new smallest: post-copy (4,100 blocks would cost 1.3 s of pause).
        await host.PublishAndSettle(Round(m, 5, dirty: 4_100, roundTripMs: 5));
        if (!fenced)
        {
            var copying = (await host.Row(m.Id))!;
            Assert.Equal("Copying", copying.CurrentState);
            Assert.False(copying.Run.PostCopy);
            Assert.Equal(0, host.SentCount<PauseVm>(m.Id));
            return;
        }

        await host.Sent<PauseVm>(m.Id, HostQueue(Host));
        var row = await host.WaitForState(m.Id, "Pausing");
        Assert.True(row.Run.PostCopy);
        Assert.True(row.Run.PredictedDowntimeMilliseconds > 1_000);
        Assert.False(row.Run.ThresholdSeen);

        // The fenced cut-over: resumed on the switch alone, the tail verified behind the VM.
        await host.Publish(m.Paused());
        await host.Sent<FinalSync>(m.Id, StorageQueue(Source));
        await host.Publish(m.Switched());
        await host.WaitForState(m.Id, "Resuming");
        await host.Publish(m.Resumed());
        await host.WaitForState(m.Id, "CompletingTail");
        await host.Publish(m.Completed());
        var succeeded = await host.Published<MigrationSucceeded>(m.Id);
        Assert.True(succeeded.PostCopy);
        Assert.True((await host.WaitForState(m.Id, "Succeeded")).Run.PostCopy);
        host.AssertNoFaults();
    }

    [Fact]
    public async Task A_fenced_migration_past_its_copy_time_budget_goes_post_copy_while_still_converging_slowly()
    {
        var settings = DefaultSettings();
        settings.PostCopyAfter = TimeSpan.FromSeconds(2);
        await using var host = await StartAsync(settings);
        var m = new MigrationScript(host);
        await CopyingAsync(host, m, maxDowntimeMs: 100, strict: false, fenced: true);

        // Rounds a second apart, each smaller than the last: only the budget (2 s from round 1) ends the pre-copy.
        await host.PublishAndSettle(Round(m, 1, dirty: 9_000, roundTripMs: 5));
        await host.PublishAndSettle(Round(m, 2, dirty: 8_000, roundTripMs: 5));
        Assert.Equal(0, host.SentCount<PauseVm>(m.Id));
        await host.Publish(Round(m, 3, dirty: 7_000, roundTripMs: 5));
        var row = await host.WaitForState(m.Id, "Pausing");
        Assert.True(row.Run.PostCopy);
    }

    [Fact]
    public async Task A_fenced_copy_whose_first_round_never_ends_goes_post_copy_when_its_budget_passes()
    {
        var settings = DefaultSettings();
        settings.PostCopyAfter = TimeSpan.FromSeconds(30);
        await using var host = await StartAsync(settings);
        var m = new MigrationScript(host);
        await CopyingAsync(host, m, maxDowntimeMs: 100, strict: false, fenced: true);

        // The guest outpaces the link: no round is ever reported. The nudge is timed for the budget, not the transfer's interval.
        var copying = (await host.Row(m.Id))!;
        var budget = copying.PhaseEnteredAt!.Value + settings.PostCopyAfter;
        Assert.InRange(copying.NudgeAtUtc!.Value, budget.UtcDateTime, budget.UtcDateTime.AddMilliseconds(2));
        host.Clock.Advance(settings.PostCopyAfter - TimeSpan.FromSeconds(1));
        Assert.Equal(0, await host.Sweeper.NudgeOnceAsync(CancellationToken.None));

        host.Clock.Advance(TimeSpan.FromSeconds(1) + TimeSpan.FromMilliseconds(2));
        Assert.Equal(1, await host.Sweeper.NudgeOnceAsync(CancellationToken.None));
        await host.Sent<PauseVm>(m.Id, HostQueue(Host));
        var row = await host.WaitForState(m.Id, "Pausing");
        Assert.False(row.Run.ThresholdSeen);
        Assert.True(row.Run.PostCopy);
        host.AssertNoFaults();
    }
}
