using Teleport.Contracts;
using static Teleport.Orchestrator.Tests.MigrationScript;
using static Teleport.Orchestrator.Tests.SagaTestHost;
using static Teleport.Orchestrator.Tests.WholeVmScript;

namespace Teleport.Orchestrator.Tests;

/// <summary>
/// A whole-VM move whose memory went post-copy (MemoryPreSwitchover.PostCopy): a fault before migrate-continue rolls
/// back as before; after it the source never resumes, not even on the destination's own failure; success waits for the
/// last page (VmMemoryMigrated) before the source QEMU quits; the request's post-copy options are validated.
/// </summary>
public sealed class WholeVmPostCopyTests
{
    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task Post_copy_succeeds_once_the_last_page_arrived_and_reports_it(string provider)
    {
        await using var started = await PostCopyStartedAsync(provider);
        var (host, m) = (started.Host, started.Script);
        var memory = (await host.Sent<MigrateVmMemory>(m.Id, HostQueue(Host))).Options;
        // The request's policy reaches the source host (PostCopy unset: the hosts' default, on without multifd).
        Assert.Equal(new MemoryMigrationOptions(DowntimeLimitMilliseconds: 300, PostCopyAfterRounds: 3), memory);
        Assert.True((await host.Row(m.Id))!.Run.PostCopy);

        // The VM runs on the destination while the rest of its memory streams: the source QEMU must not quit yet.
        await host.PublishAndSettle(m.ResumedOnDestination());
        Assert.Equal(("StartingOnDestination", 0), ((await host.Row(m.Id))!.CurrentState, host.SentCount<StopSourceVm>(m.Id)));
        await host.Publish(m.MemoryMigrated());
        await host.Sent<StopSourceVm>(m.Id, HostQueue(Host));
        var row = await host.WaitForState(m.Id, "Succeeded");
        Assert.True((await host.Published<MigrationSucceeded>(m.Id)).PostCopy);
        Assert.Equal(30_000_000, row.Run.MemoryPostCopyBytes);
        Assert.Equal(7_500, row.Run.MemoryPostCopyMilliseconds!.Value, 1);
        Assert.Equal(400, row.Run.DowntimeMilliseconds!.Value, 1);
        host.AssertNoFaults();
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task After_post_copy_started_the_destinations_failure_does_not_resume_the_source(string provider)
    {
        await using var started = await PostCopyStartedAsync(provider);
        var (host, m) = (started.Host, started.Script);

        await host.Publish(m.HostFailed(HostOperationNames.Resume, DestinationHost));
        var failed = await host.Published<MigrationFailed>(m.Id);
        Assert.True(failed.PostCopy);
        Assert.Contains("post-copy, so the source VM cannot resume", failed.Reason);
        var row = await host.WaitForState(m.Id, "Failed");
        Assert.True(row.Run.RollbackIncomplete);
        await host.Sent<AbortTransfer>(m.Id, StorageQueue(Source));
        // Neither QEMU is touched: no resume of the source, no discard of the destination (it may hold the only live pages).
        Assert.Empty(host.Harness.Sent.Select<ResumeVm>(x => x.Context.Message.MigrationId == m.Id && x.Context.Message.HostId == Host));
        Assert.Equal((0, 0), (host.SentCount<DiscardIncomingVm>(m.Id), host.SentCount<StopSourceVm>(m.Id)));
        host.AssertNoFaults();
    }

    [Fact]
    public async Task Before_migrate_continue_a_post_copy_pre_switchover_still_rolls_back_to_the_source()
    {
        await using var host = await StartAsync();
        var m = new WholeVmScript(host) { PostCopy = true };
        await m.DriveTo("SyncingDisk");
        Assert.True((await host.Row(m.Id))!.Run.PostCopy);

        // QEMU waits at pre-switchover (post-copy asked, nothing of it sent): the source still holds the whole VM.
        await host.Publish(m.Disk.Completed(verified: false));
        Assert.Equal(new ResumeVm(m.Id, Vm, Host), await host.Sent<ResumeVm>(m.Id, HostQueue(Host)));
        Assert.Equal(new DiscardIncomingVm(m.Id, Vm, DestinationHost), await host.Sent<DiscardIncomingVm>(m.Id, HostQueue(DestinationHost)));
        await host.WaitForState(m.Id, "RollingBackResume");
        await host.Publish(m.ResumedOnSource());
        var row = await host.WaitForState(m.Id, "Failed");
        Assert.False(row.Run.RollbackIncomplete);
        Assert.Equal(0, host.SentCount<ContinueVmMigration>(m.Id));
        host.AssertNoFaults();
    }

    [Theory]
    [InlineData(true, true, null, null, "cannot be combined with Memory.Multifd")]
    [InlineData(null, null, 0, null, "PostCopyAfterRounds 0 must be 1-1000")]
    [InlineData(null, null, null, 100_000, "PostCopyAfterSeconds 100000 must be 1-86400")]
    public async Task Unusable_post_copy_options_are_refused(bool? postCopy, bool? multifd, int? rounds, int? seconds, string reason)
    {
        await using var host = await StartAsync();
        var id = Guid.NewGuid();
        var request = WholeVmRequest(id);
        await host.Publish(request with { Options = request.Options! with { Memory = new MemoryMigrationOptions(multifd, null, null, postCopy, rounds, seconds) } });
        Assert.Contains(reason, (await host.Published<MigrationFailed>(id)).Reason);
        Assert.Equal(0, host.SentCount<DescribeVm>(id));
    }

    // A post-copy move driven to StartingOnDestination (migrate-continue and ResumeVm sent: post-copy has begun).
    private static async Task<PostCopyStarted> PostCopyStartedAsync(string provider)
    {
        var database = await TestDatabase.CreateAsync(provider);
        var host = await StartAsync(database: database.ConnectionString);
        var m = new WholeVmScript(host) { PostCopy = true };
        await m.DriveTo("StartingOnDestination");
        return new PostCopyStarted(database, host, m);
    }

    private sealed record PostCopyStarted(TestDatabase Database, SagaTestHost Host, WholeVmScript Script) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await Host.DisposeAsync();
            await Database.DisposeAsync();
        }
    }
}
