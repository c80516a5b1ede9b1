using Teleport.Contracts;
using static Teleport.Orchestrator.Tests.MigrationScript;
using static Teleport.Orchestrator.Tests.SagaTestHost;

namespace Teleport.Orchestrator.Tests;

/// <summary>Every command carries the saga's attempt; a worker's answer for another attempt changes nothing and is logged.</summary>
public sealed class MigrationAttemptTests
{
    // A migration that failed in Copying and was retried: now at attempt 2.
    private static async Task<(MigrationScript Current, MigrationScript Old)> RetriedMigration(SagaTestHost host)
    {
        var current = new MigrationScript(host);
        await current.DriveTo("Copying");
        await host.Publish(current.TransferFailed());
        await host.WaitForState(current.Id, "Failed");
        await host.Publish(new RetryMigration(current.Id));
        await host.WaitFor(current.Id, r => r.CurrentState == "Preparing" && r.Attempt == 2, "attempt 2 preparing");
        current.Attempt = 2;
        return (current, new MigrationScript(host, current.Id) { Attempt = 1 });
    }

    // Publishes answers of the wrong attempt and checks that the row did not change at all.
    private static async Task Unchanged(SagaTestHost host, Guid id, params object[] stale)
    {
        var before = await host.Row(id);
        foreach (object message in stale)
        {
            await host.Harness.Bus.Publish(message, message.GetType());
        }

        // Wait until the saga endpoint consumed all of them.
        var until = DateTime.UtcNow.AddSeconds(15);
        while (stale.Any(m => !host.Harness.Consumed.Select(c => ReferenceEquals(c.MessageObject, m) || c.MessageObject.Equals(m)).Any())
               && DateTime.UtcNow < until)
        {
            await Task.Delay(20);
        }

        await Task.Delay(100);
        var after = await host.Row(id);
        Assert.Equal(before!.CurrentState, after!.CurrentState);
        Assert.Equal(before.Version, after.Version);
    }

    [Fact]
    public async Task After_a_retry_every_command_carries_attempt_2_and_answers_of_attempt_1_are_ignored_in_every_state()
    {
        await using var host = await StartAsync();
        var (m, old) = await RetriedMigration(host);

        Assert.Equal(2, (await host.Sent<PrepareDestination>(m.Id, StorageQueue(Destination), index: 1)).Attempt);
        await Unchanged(host, m.Id, old.Prepared(), old.TransferFailed(), old.IndexStreamed());
        Assert.Equal(1, host.SentCount<StartTransfer>(m.Id));

        await host.Publish(m.Prepared());
        Assert.Equal(2, (await host.Sent<StartTransfer>(m.Id, StorageQueue(Source), index: 1)).Attempt);
        await host.WaitForState(m.Id, "Indexing");
        await Unchanged(host, m.Id, old.IndexStreamed(), old.BlocksRequested(), old.TransferFailed(Destination), old.Round(4));

        await host.Publish(m.IndexStreamed());
        await host.Publish(m.BlocksRequested());
        await host.WaitForState(m.Id, "Copying");
        await Unchanged(host, m.Id, old.Round(5), old.Threshold(), old.TransferFailed());
        Assert.Equal(0, (await host.Row(m.Id))!.Run.Rounds);

        await host.Publish(m.Threshold());
        Assert.Equal(2, (await host.Sent<PauseVm>(m.Id, HostQueue(Host), index: 0)).Attempt);
        await host.WaitForState(m.Id, "Pausing");
        await Unchanged(host, m.Id, old.Paused(), old.HostFailed("pause"));

        await host.Publish(m.Paused());
        Assert.Equal(2, (await host.Sent<SwitchTarget>(m.Id, HostQueue(Host))).Attempt);
        Assert.Equal(2, (await host.Sent<FinalSync>(m.Id, StorageQueue(Source))).Attempt);
        await host.WaitForState(m.Id, "Switching");
        await Unchanged(host, m.Id, old.Switched(), old.Completed(verified: false), old.HostFailed("switch"));

        await host.Publish(m.Switched());
        await host.Publish(m.Completed());
        Assert.Equal(2, (await host.Sent<ResumeVm>(m.Id, HostQueue(Host))).Attempt);
        await host.WaitForState(m.Id, "Resuming");
        await Unchanged(host, m.Id, old.Resumed(), old.TransferFailed());

        await host.Publish(m.Resumed());
        await host.WaitForState(m.Id, "Succeeded");
        Assert.Equal(2, (await host.Row(m.Id))!.Attempt);
        Assert.Contains(host.Logs.Lines, l => l.Contains($"Migration {m.Id}: ignoring TransferFailed of attempt 1, the migration is at attempt 2"));
        host.AssertNoFaults();
    }

    [Fact]
    public async Task Answers_of_a_later_attempt_than_the_saga_knows_are_ignored_too()
    {
        await using var host = await StartAsync();
        var m = new MigrationScript(host);
        await m.DriveTo("Preparing");
        var future = new MigrationScript(host, m.Id) { Attempt = 3 };

        await Unchanged(host, m.Id, future.Prepared(), future.TransferFailed());

        Assert.Equal(0, host.SentCount<StartTransfer>(m.Id));
        Assert.Equal(0, host.SentCount<AbortTransfer>(m.Id));
        host.AssertNoFaults();
    }

    [Fact]
    public async Task Rollback_commands_of_a_retry_carry_its_attempt_and_wait_for_its_answers()
    {
        await using var host = await StartAsync();
        var (m, old) = await RetriedMigration(host);
        await host.Publish(m.Prepared());
        await host.Publish(m.IndexStreamed());
        await host.Publish(m.BlocksRequested());
        await host.Publish(m.Threshold());
        await host.WaitForState(m.Id, "Pausing");
        await host.Publish(m.Paused());
        await host.WaitForState(m.Id, "Switching");

        await host.Publish(new CancelMigration(m.Id, "window closed"));
        Assert.Equal(2, (await host.Sent<SwitchBack>(m.Id, HostQueue(Host))).Attempt);
        await host.WaitForState(m.Id, "RollingBackSwitch");
        await Unchanged(host, m.Id, old.SwitchedBack(), old.HostFailed("switch back"));

        await host.Publish(m.SwitchedBack());
        Assert.Equal(2, (await host.Sent<ResumeVm>(m.Id, HostQueue(Host))).Attempt);
        await host.WaitForState(m.Id, "RollingBackResume");
        await Unchanged(host, m.Id, old.ResumedOnSource());

        await host.Publish(m.ResumedOnSource());
        // Attempt 1 sent one abort to each side; attempt 2 its own two.
        var aborts = new[]
        {
            await host.Sent<AbortTransfer>(m.Id, StorageQueue(Source), index: 2),
            await host.Sent<AbortTransfer>(m.Id, StorageQueue(Destination), index: 3),
        };
        Assert.All(aborts, a => Assert.Equal(2, a.Attempt));
        await host.WaitForState(m.Id, "Failed");

        // Only the current attempt's acknowledgements are recorded.
        await Unchanged(host, m.Id, new TransferAborted(m.Id, Source, T0.AddMinutes(9), Attempt: 1));
        Assert.Null((await host.Row(m.Id))!.Run.SourceAbortedAt);
        await host.PublishAndSettle(new TransferAborted(m.Id, Source, T0.AddMinutes(10), Attempt: 2));
        Assert.Equal(T0.AddMinutes(10), (await host.Row(m.Id))!.Run.SourceAbortedAt);
        host.AssertNoFaults();
    }
}
