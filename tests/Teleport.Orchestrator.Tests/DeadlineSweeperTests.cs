using MassTransit;
using Microsoft.Extensions.Logging.Abstractions;
using NSubstitute;
using Teleport.Contracts;

namespace Teleport.Orchestrator.Tests;

public sealed class DeadlineSweeperTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 24, 22, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task Publishes_one_expiry_per_row_past_its_deadline_and_none_for_the_others()
    {
        await using var test = await TestDatabase.CreateAsync("sqlite");
        var database = test.Open();
        var expired = await Insert(database, "Copying", Now.UtcDateTime.AddSeconds(-1));
        var exactlyNow = await Insert(database, "Pausing", Now.UtcDateTime);
        await Insert(database, "Indexing", Now.UtcDateTime.AddMilliseconds(1));
        await Insert(database, "Failed", null);
        var bus = Substitute.For<IBus>();
        var sweeper = new DeadlineSweeper(database, bus, new MigrationSettings(), new TestClock(Now), NullLogger<DeadlineSweeper>.Instance);

        Assert.Equal(2, await sweeper.SweepOnceAsync(CancellationToken.None));

        await bus.Received(1).Publish(
            new MigrationDeadlineExpired(expired, "Copying", Now.AddSeconds(-1), Now), Arg.Any<CancellationToken>());
        await bus.Received(1).Publish(
            new MigrationDeadlineExpired(exactlyNow, "Pausing", Now, Now), Arg.Any<CancellationToken>());
        await bus.Received(2).Publish(Arg.Any<MigrationDeadlineExpired>(), Arg.Any<CancellationToken>());
    }

    [Fact]
    public async Task A_row_still_waiting_for_its_saga_is_published_again_only_after_a_while()
    {
        await using var test = await TestDatabase.CreateAsync("sqlite");
        var database = test.Open();
        var id = await Insert(database, "Copying", Now.UtcDateTime.AddSeconds(-1));
        var bus = Substitute.For<IBus>();
        var clock = new TestClock(Now);
        var settings = new MigrationSettings { RepublishAfter = TimeSpan.FromSeconds(30) };
        var sweeper = new DeadlineSweeper(database, bus, settings, clock, NullLogger<DeadlineSweeper>.Instance);

        Assert.Equal(1, await sweeper.SweepOnceAsync(CancellationToken.None));
        clock.Advance(TimeSpan.FromSeconds(29));
        Assert.Equal(0, await sweeper.SweepOnceAsync(CancellationToken.None));
        clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(1, await sweeper.SweepOnceAsync(CancellationToken.None));

        // A new deadline (the saga moved on and got stuck again) is published at once.
        await using (var db = database.CreateContext())
        {
            var row = db.Migrations.Single(x => x.CorrelationId == id);
            row.CurrentState = "Pausing";
            row.DeadlineUtc = clock.GetUtcNow().UtcDateTime;
            await db.SaveChangesAsync();
        }

        Assert.Equal(1, await sweeper.SweepOnceAsync(CancellationToken.None));
        await bus.Received(1).Publish(
            Arg.Is<MigrationDeadlineExpired>(e => e.MigrationId == id && e.State == "Pausing"), Arg.Any<CancellationToken>());
    }

    [Fact]
    public async Task The_running_sweeper_finds_an_expired_saga_by_itself()
    {
        var settings = SagaTestHost.DefaultSettings();
        settings.CopyTimeout = TimeSpan.FromSeconds(7);
        settings.SweepInterval = TimeSpan.FromMilliseconds(50);
        await using var host = await SagaTestHost.StartAsync(settings);
        var m = new MigrationScript(host);
        await m.DriveTo("Copying");

        await host.Sweeper.StartAsync(CancellationToken.None);
        try
        {
            host.Clock.Advance(TimeSpan.FromSeconds(8));
            await MigrationRollbackTests.ExpectAbortsAndFailure(host, m.Id, MigrationPhases.Copy, "deadline of state Copying passed");
        }
        finally
        {
            await host.Sweeper.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task Publishes_a_nudge_per_row_due_and_none_for_rows_past_their_deadline_or_not_due()
    {
        await using var test = await TestDatabase.CreateAsync("sqlite");
        var database = test.Open();
        var due = await Insert(database, "Pausing", Now.UtcDateTime.AddSeconds(20), nudgeAt: Now.UtcDateTime.AddSeconds(-1), attempt: 2);
        var exactlyNow = await Insert(database, "Failed", null, nudgeAt: Now.UtcDateTime);
        await Insert(database, "Copying", Now.UtcDateTime.AddHours(1), nudgeAt: Now.UtcDateTime.AddMilliseconds(1));
        await Insert(database, "Switching", Now.UtcDateTime.AddSeconds(-1), nudgeAt: Now.UtcDateTime.AddSeconds(-2));
        await Insert(database, "Succeeded", null);
        var bus = Substitute.For<IBus>();
        var sweeper = new DeadlineSweeper(database, bus, new MigrationSettings(), new TestClock(Now), NullLogger<DeadlineSweeper>.Instance);

        Assert.Equal(2, await sweeper.NudgeOnceAsync(CancellationToken.None));

        await bus.Received(1).Publish(new MigrationNudged(due, "Pausing", 2, Now.AddSeconds(-1), Now), Arg.Any<CancellationToken>());
        await bus.Received(1).Publish(new MigrationNudged(exactlyNow, "Failed", 1, Now, Now), Arg.Any<CancellationToken>());
        await bus.Received(2).Publish(Arg.Any<MigrationNudged>(), Arg.Any<CancellationToken>());
        await bus.DidNotReceive().Publish(Arg.Any<MigrationDeadlineExpired>(), Arg.Any<CancellationToken>());
    }

    [Fact]
    public async Task An_unhandled_nudge_is_published_again_after_the_state_interval_and_a_new_one_at_once()
    {
        await using var test = await TestDatabase.CreateAsync("sqlite");
        var database = test.Open();
        var id = await Insert(database, "Pausing", Now.UtcDateTime.AddSeconds(30), nudgeAt: Now.UtcDateTime);
        var bus = Substitute.For<IBus>();
        var clock = new TestClock(Now);
        var settings = new MigrationSettings { CutOverNudgeInterval = TimeSpan.FromSeconds(2), PrepareNudgeInterval = TimeSpan.FromSeconds(10) };
        var sweeper = new DeadlineSweeper(database, bus, settings, clock, NullLogger<DeadlineSweeper>.Instance);

        Assert.Equal(1, await sweeper.NudgeOnceAsync(CancellationToken.None));
        clock.Advance(TimeSpan.FromSeconds(1.9));
        Assert.Equal(0, await sweeper.NudgeOnceAsync(CancellationToken.None));
        clock.Advance(TimeSpan.FromSeconds(0.1));
        Assert.Equal(1, await sweeper.NudgeOnceAsync(CancellationToken.None));

        // The saga handled it (the nudge time moved): the next one is published when it is due.
        await using (var db = database.CreateContext())
        {
            var row = db.Migrations.Single(x => x.CorrelationId == id);
            row.CurrentState = "Preparing";
            row.NudgeAtUtc = clock.GetUtcNow().UtcDateTime;
            await db.SaveChangesAsync();
        }

        Assert.Equal(1, await sweeper.NudgeOnceAsync(CancellationToken.None));
        clock.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(0, await sweeper.NudgeOnceAsync(CancellationToken.None));
        await bus.Received(3).Publish(Arg.Is<MigrationNudged>(e => e.MigrationId == id), Arg.Any<CancellationToken>());
        await bus.Received(1).Publish(Arg.Is<MigrationNudged>(e => e.MigrationId == id && e.State == "Preparing"), Arg.Any<CancellationToken>());
    }

    private static async Task<Guid> Insert(
        Persistence.OrchestratorDatabase database, string state, DateTime? deadline, DateTime? nudgeAt = null, int attempt = 1)
    {
        var id = Guid.NewGuid();
        await using var db = await database.OpenAsync(CancellationToken.None);
        db.Migrations.Add(new MigrationState { CorrelationId = id, CurrentState = state, DeadlineUtc = deadline, NudgeAtUtc = nudgeAt, Attempt = attempt });
        await db.SaveChangesAsync();
        return id;
    }
}
