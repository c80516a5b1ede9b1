using Teleport.Contracts;
using static Teleport.Orchestrator.Tests.MigrationScript;
using static Teleport.Orchestrator.Tests.SagaTestHost;

namespace Teleport.Orchestrator.Tests;

public sealed class MigrationDeadlineTests
{
    private static MigrationSettings ShortSettings()
    {
        var settings = DefaultSettings();
        settings.PrepareTimeout = TimeSpan.FromSeconds(5);
        settings.IndexAndRequestTimeout = TimeSpan.FromSeconds(6);
        settings.CopyTimeout = TimeSpan.FromSeconds(7);
        settings.CutOverTimeout = TimeSpan.FromSeconds(2);
        settings.RollbackTimeout = TimeSpan.FromSeconds(3);
        return settings;
    }

    [Fact]
    public async Task Sweeper_fires_only_after_the_deadline_and_the_saga_rolls_back()
    {
        await using var host = await StartAsync(ShortSettings());
        var m = new MigrationScript(host);
        await m.DriveTo("Preparing");

        host.Clock.Advance(TimeSpan.FromSeconds(4.9));
        Assert.Equal(0, await host.Sweeper.SweepOnceAsync(CancellationToken.None));
        Assert.Equal("Preparing", (await host.Row(m.Id))!.CurrentState);

        host.Clock.Advance(TimeSpan.FromSeconds(0.2));
        Assert.Equal(1, await host.Sweeper.SweepOnceAsync(CancellationToken.None));
        var expired = await host.Published<MigrationDeadlineExpired>(m.Id);
        Assert.Equal("Preparing", expired.State);

        await MigrationRollbackTests.ExpectAbortsAndFailure(host, m.Id, MigrationPhases.Prepare, "deadline of state Preparing passed");
        Assert.Equal(0, await host.Sweeper.SweepOnceAsync(CancellationToken.None));
        host.AssertNoFaults();
    }

    [Theory]
    [InlineData("Indexing", MigrationPhases.Index)]
    [InlineData("Requesting", MigrationPhases.Request)]
    [InlineData("Copying", MigrationPhases.Copy)]
    public async Task Each_transfer_state_has_its_own_deadline(string state, string phase)
    {
        await using var host = await StartAsync(ShortSettings());
        var m = new MigrationScript(host);
        await m.DriveTo(state);

        host.Clock.Advance(TimeSpan.FromSeconds(8));
        Assert.Equal(1, await host.Sweeper.SweepOnceAsync(CancellationToken.None));

        await MigrationRollbackTests.ExpectAbortsAndFailure(host, m.Id, phase, $"deadline of state {state} passed");
        host.AssertNoFaults();
    }

    [Fact]
    public async Task Cut_over_deadline_resumes_on_the_source()
    {
        await using var host = await StartAsync(ShortSettings());
        var m = new MigrationScript(host);
        await m.DriveTo("Pausing");

        host.Clock.Advance(TimeSpan.FromSeconds(2.5));
        await host.Sweeper.SweepOnceAsync(CancellationToken.None);

        await host.Sent<ResumeVm>(m.Id, HostQueue(Host));
        await host.WaitForState(m.Id, "RollingBackResume");
        await host.Publish(m.ResumedOnSource());
        await MigrationRollbackTests.ExpectAbortsAndFailure(host, m.Id, MigrationPhases.CutOver, "deadline of state Pausing passed");
        host.AssertNoFaults();
    }

    [Fact]
    public async Task Rollback_deadline_ends_failed_and_incomplete_without_touching_the_destination()
    {
        await using var host = await StartAsync(ShortSettings());
        var m = new MigrationScript(host);
        await m.DriveTo("Switching");
        await host.Publish(m.HostFailed("switch"));
        await host.WaitForState(m.Id, "RollingBackSwitch");

        host.Clock.Advance(TimeSpan.FromSeconds(3.5));
        Assert.Equal(1, await host.Sweeper.SweepOnceAsync(CancellationToken.None));

        var failed = await host.Published<MigrationFailed>(m.Id);
        Assert.Contains("switch back was not confirmed in time", failed.Reason);
        Assert.Equal(MigrationPhases.CutOver, failed.Phase);
        await host.Sent<AbortTransfer>(m.Id, StorageQueue(Source));
        var row = await host.WaitForState(m.Id, "Failed");
        Assert.True(row.Run.RollbackIncomplete);
        Assert.Equal(1, host.SentCount<AbortTransfer>(m.Id));
        host.AssertNoFaults();
    }

    [Fact]
    public async Task An_expiry_that_no_longer_matches_the_saga_is_ignored()
    {
        await using var host = await StartAsync(ShortSettings());
        var m = new MigrationScript(host);
        await m.DriveTo("Indexing");
        var row = await host.Row(m.Id);
        var deadline = new DateTimeOffset(row!.DeadlineUtc!.Value, TimeSpan.Zero);
        host.Clock.Advance(TimeSpan.FromSeconds(10));
        var now = host.Clock.GetUtcNow();

        // Another orchestrator's sweep of an earlier state, a different deadline, an expiry from the future.
        await host.PublishAndSettle(new MigrationDeadlineExpired(m.Id, "Preparing", deadline, now));
        await host.PublishAndSettle(new MigrationDeadlineExpired(m.Id, "Indexing", deadline.AddMilliseconds(-1), now));
        host.Clock.Advance(TimeSpan.FromSeconds(-10));
        await host.PublishAndSettle(new MigrationDeadlineExpired(m.Id, "Indexing", deadline, now));

        var after = await host.Row(m.Id);
        Assert.Equal("Indexing", after!.CurrentState);
        Assert.Equal(row.Version, after.Version);
        Assert.Equal(0, host.PublishedCount<MigrationFailed>(m.Id));

        // The real one, delivered twice (two orchestrators sweeping): one rollback.
        host.Clock.Advance(TimeSpan.FromSeconds(10));
        var real = new MigrationDeadlineExpired(m.Id, "Indexing", deadline, host.Clock.GetUtcNow());
        await host.Publish(real);
        await host.Publish(real);
        await MigrationRollbackTests.ExpectAbortsAndFailure(host, m.Id, MigrationPhases.Index, "deadline of state Indexing");
        await host.PublishAndSettle(real);
        Assert.Equal(1, host.PublishedCount<MigrationFailed>(m.Id));
        Assert.Equal(2, host.SentCount<AbortTransfer>(m.Id));
        host.AssertNoFaults();
    }

    [Fact]
    public async Task A_transition_moves_the_deadline_so_an_old_expiry_does_nothing()
    {
        await using var host = await StartAsync(ShortSettings());
        var m = new MigrationScript(host);
        await m.DriveTo("Preparing");
        var preparing = await host.Row(m.Id);

        host.Clock.Advance(TimeSpan.FromSeconds(4));
        await host.Publish(m.Prepared());
        var indexing = await host.WaitForState(m.Id, "Indexing");
        Assert.Equal(host.Clock.GetUtcNow().UtcDateTime + TimeSpan.FromSeconds(6), indexing.DeadlineUtc);

        host.Clock.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(0, await host.Sweeper.SweepOnceAsync(CancellationToken.None));
        await host.PublishAndSettle(new MigrationDeadlineExpired(
            m.Id, "Preparing", new DateTimeOffset(preparing!.DeadlineUtc!.Value, TimeSpan.Zero), host.Clock.GetUtcNow()));
        Assert.Equal("Indexing", (await host.Row(m.Id))!.CurrentState);
        host.AssertNoFaults();
    }
}
