using Teleport.Contracts;
using static Teleport.Orchestrator.Tests.MigrationScript;
using static Teleport.Orchestrator.Tests.SagaTestHost;

namespace Teleport.Orchestrator.Tests;

/// <summary>
/// The fenced cut-over (MigrationOptions.FencedCutover) with scripted workers: the VM resumes on the destination once its
/// path is switched, before the destination verified; the saga waits in CompletingTail for the verdict. A tail that
/// fails after the resume cannot roll back: Failed, incomplete, source aborted (its volume kept), destination left alone.
/// </summary>
public sealed class FencedCutoverSagaTests
{
    private static MigrationScript Fenced(SagaTestHost host)
    {
        var id = Guid.NewGuid();
        var request = Request(id);
        return new MigrationScript(host, id) { Requested = request with { Options = request.Options with { VolumeBytes = 1L << 30, FencedCutover = true } } };
    }

    // Switching -> (TargetSwitched) Resuming -> (VmResumed) CompletingTail.
    private static async Task DriveToTail(SagaTestHost host, MigrationScript m)
    {
        await m.DriveTo("Switching");
        await host.Publish(m.Switched());
        var resume = await host.Sent<ResumeVm>(m.Id, HostQueue(Host));
        Assert.Equal(Destination, resume.StorageId);
        await host.WaitForState(m.Id, "Resuming");
        await host.Publish(m.Resumed());
        var row = await host.WaitForState(m.Id, "CompletingTail");
        Assert.Equal(MigrationPhases.Tail, row.Phase);
    }

    [Fact]
    public async Task Resumes_on_the_switch_alone_then_succeeds_once_the_tail_verifies_and_ignores_duplicates()
    {
        await using var host = await StartAsync();
        var m = Fenced(host);
        await DriveToTail(host, m);
        var tail = (await host.Row(m.Id))!;
        Assert.True(tail.OptionFencedCutover);
        Assert.False(tail.Run.DestinationVerified);
        Assert.Equal(350, tail.Run.DowntimeMilliseconds!.Value, 1); // paused at 50 s, resumed at 50.35 s: over at the resume
        Assert.Equal(0, host.PublishedCount<MigrationSucceeded>(m.Id));
        Assert.Equal(0, host.SentCount<ReleaseSourceVolume>(m.Id));
        // A duplicate resume and a cancel change nothing: the VM runs on the destination, there is nothing to undo.
        await host.PublishAndSettle(m.Resumed());
        await host.PublishAndSettle(new CancelMigration(m.Id, "operator"));
        Assert.Equal("CompletingTail", (await host.Row(m.Id))!.CurrentState);

        await host.Publish(m.Completed());
        await host.WaitForState(m.Id, "Succeeded");
        var succeeded = await host.Published<MigrationSucceeded>(m.Id);
        Assert.Equal(350, succeeded.DowntimeMilliseconds, 1);
        await host.Sent<ReleaseSourceVolume>(m.Id, StorageQueue(Source));
        await host.PublishAndSettle(m.Completed());
        await host.PublishAndSettle(m.Resumed());
        Assert.Equal(1, host.PublishedCount<MigrationSucceeded>(m.Id));
        Assert.Equal(1, host.SentCount<ReleaseSourceVolume>(m.Id));
        Assert.Equal(1, host.SentCount<ResumeVm>(m.Id));
        Assert.Equal(0, host.SentCount<AbortTransfer>(m.Id));
        host.AssertNoFaults();
    }

    [Fact]
    public async Task A_verdict_before_the_resume_is_confirmed_ends_the_migration_at_the_resume()
    {
        await using var host = await StartAsync();
        var m = Fenced(host);
        await m.DriveTo("Switching");
        await host.Publish(m.Switched());
        await host.WaitForState(m.Id, "Resuming");

        await host.Publish(m.Completed());
        await host.WaitFor(m.Id, r => r.Run.DestinationVerified, "the verdict recorded in Resuming");
        await host.Publish(m.Resumed());

        await host.WaitForState(m.Id, "Succeeded");
        Assert.Equal(1, host.PublishedCount<MigrationSucceeded>(m.Id));
        await host.Sent<ReleaseSourceVolume>(m.Id, StorageQueue(Source));
        host.AssertNoFaults();
    }

    [Fact]
    public async Task The_host_carries_the_cut_over_and_its_resume_read_before_its_switch_ends_the_pause()
    {
        await using var host = await StartAsync();
        var m = Fenced(host);
        await m.DriveTo("Switching");
        // The pause asked the host to run the cut-over itself, for this volume, toward the destination's export.
        var pause = await host.Sent<PauseVm>(m.Id, HostQueue(Host));
        Assert.Equal((Volume, Destination, DestinationExport), (pause.CutOverVolumeId, pause.NextStorageId, pause.NextExportName));
        // The saga's own steps went out as well: the host and the source answer them as duplicates of work done.
        await host.Sent<SwitchTarget>(m.Id, HostQueue(Host));
        await host.Sent<FinalSync>(m.Id, StorageQueue(Source));

        // The host's VmResumed is read before its TargetSwitched: the VM runs on the destination, the tail follows.
        await host.Publish(m.Resumed());
        var tail = await host.WaitForState(m.Id, "CompletingTail");
        Assert.Equal(350, tail.Run.DowntimeMilliseconds!.Value, 1);
        Assert.True(tail.Run.SwitchConfirmed);
        await host.PublishAndSettle(m.Switched());
        await host.PublishAndSettle(m.Resumed());
        Assert.Equal("CompletingTail", (await host.Row(m.Id))!.CurrentState);

        await host.Publish(m.Completed());
        await host.WaitForState(m.Id, "Succeeded");
        Assert.Equal(350, (await host.Published<MigrationSucceeded>(m.Id)).DowntimeMilliseconds, 1);
        Assert.Equal(0, host.SentCount<ResumeVm>(m.Id));
        Assert.Equal(1, host.PublishedCount<MigrationSucceeded>(m.Id));
        host.AssertNoFaults();
    }

    [Fact]
    public async Task A_verdict_read_before_the_hosts_resume_succeeds_at_the_resume()
    {
        await using var host = await StartAsync();
        var m = Fenced(host);
        await m.DriveTo("Switching");
        await host.Publish(m.Completed());
        await host.WaitFor(m.Id, r => r.Run.DestinationVerified, "the verdict recorded in Switching");
        Assert.Equal("Switching", (await host.Row(m.Id))!.CurrentState);

        await host.Publish(m.Resumed());
        await host.WaitForState(m.Id, "Succeeded");
        Assert.Equal(0, host.SentCount<ResumeVm>(m.Id));
        host.AssertNoFaults();
    }

    [Fact]
    public async Task Without_the_option_the_host_is_not_asked_to_carry_the_cut_over_and_an_early_resume_is_ignored()
    {
        await using var host = await StartAsync();
        var m = new MigrationScript(host);
        await m.DriveTo("Switching");
        Assert.Null((await host.Sent<PauseVm>(m.Id, HostQueue(Host))).CutOverVolumeId);

        await host.PublishAndSettle(m.Resumed());
        Assert.Equal("Switching", (await host.Row(m.Id))!.CurrentState);
    }

    [Fact]
    public async Task Without_the_option_the_switch_alone_does_not_resume()
    {
        await using var host = await StartAsync();
        var m = new MigrationScript(host);
        await m.DriveTo("Switching");

        await host.PublishAndSettle(m.Switched());

        Assert.Equal("Switching", (await host.Row(m.Id))!.CurrentState);
        Assert.Equal(0, host.SentCount<ResumeVm>(m.Id));
    }

    [Fact]
    public async Task An_unverified_tail_before_the_resume_is_confirmed_still_rolls_back()
    {
        await using var host = await StartAsync();
        var m = Fenced(host);
        await m.DriveTo("Switching");
        await host.Publish(m.Switched());
        await host.WaitForState(m.Id, "Resuming");

        await host.Publish(m.Completed(verified: false));

        await host.Sent<SwitchBack>(m.Id, HostQueue(Host));
        await host.WaitForState(m.Id, "RollingBackSwitch");
        host.AssertNoFaults();
    }

    [Theory]
    [InlineData("unverified", "could not verify")]
    [InlineData("storage failed", "storage dst-1 failed in copy: disk read error")]
    [InlineData("deadline", "deadline of state CompletingTail passed")]
    public async Task A_tail_failing_after_the_resume_fails_without_rollback_keeping_the_source(string how, string reason)
    {
        var settings = DefaultSettings();
        settings.TailTimeout = TimeSpan.FromSeconds(30);
        await using var host = await StartAsync(settings);
        var m = Fenced(host);
        await DriveToTail(host, m);

        await FailTail(host, m, how);

        var row = await host.WaitForState(m.Id, "Failed");
        var failed = await host.Published<MigrationFailed>(m.Id);
        Assert.Equal(MigrationPhases.Tail, failed.Phase);
        Assert.Contains(reason, failed.Reason, StringComparison.Ordinal);
        Assert.Contains("not rolled back, the source volume on storage src-1 is kept", failed.Reason, StringComparison.Ordinal);
        Assert.True(row.Run.RollbackIncomplete);
        // Only the source side is stopped; the destination keeps serving the VM; nothing is switched back or released.
        var abort = await host.Sent<AbortTransfer>(m.Id, StorageQueue(Source));
        Assert.Equal(Source, abort.StorageId);
        Assert.Equal(1, host.SentCount<AbortTransfer>(m.Id));
        Assert.Equal(0, host.SentCount<SwitchBack>(m.Id));
        Assert.Equal(0, host.SentCount<ReleaseSourceVolume>(m.Id));
        Assert.Equal(0, host.PublishedCount<MigrationSucceeded>(m.Id));
        // A late verdict changes nothing, and a retry would move a disk in use: both refused.
        await host.PublishAndSettle(m.Completed());
        await host.PublishAndSettle(new RetryMigration(m.Id));
        Assert.Equal("Failed", (await host.Row(m.Id))!.CurrentState);
        Assert.Equal(1, host.SentCount<PrepareDestination>(m.Id));
        host.AssertNoFaults();
    }

    /// <summary>Fails a tail (a TailTimeout of 30 s) as <paramref name="how"/> says: unverified, storage failed, or its deadline.</summary>
    internal static async Task FailTail(SagaTestHost host, MigrationScript m, string how)
    {
        switch (how)
        {
            case "unverified":
                await host.Publish(m.Completed(verified: false));
                break;
            case "storage failed":
                await host.Publish(m.TransferFailed(Destination));
                break;
            default:
                host.Clock.Advance(TimeSpan.FromSeconds(29));
                Assert.Equal(0, await host.Sweeper.SweepOnceAsync(CancellationToken.None));
                host.Clock.Advance(TimeSpan.FromSeconds(2));
                Assert.Equal(1, await host.Sweeper.SweepOnceAsync(CancellationToken.None));
                break;
        }
    }

    [Fact]
    public async Task A_nudge_in_the_tail_asks_the_source_to_finish_again()
    {
        await using var host = await StartAsync();
        var m = Fenced(host);
        await DriveToTail(host, m);
        int before = host.SentCount<FinalSync>(m.Id);
        var row = (await host.Row(m.Id))!;

        host.Clock.Advance(row.NudgeAtUtc!.Value - host.Clock.GetUtcNow().UtcDateTime);
        Assert.Equal(1, await host.Sweeper.NudgeOnceAsync(CancellationToken.None));

        await host.Sent<FinalSync>(m.Id, StorageQueue(Source), index: before);
        Assert.Equal("CompletingTail", (await host.Row(m.Id))!.CurrentState);
    }
}
