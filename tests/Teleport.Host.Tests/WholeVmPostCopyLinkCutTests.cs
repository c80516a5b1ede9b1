using System.Diagnostics;
using System.Net;
using Teleport.Contracts;
using Teleport.Host.Tests.Support;
using Teleport.Host.Workload;

namespace Teleport.Host.Tests;

/// <summary>
/// A whole-VM move in memory post-copy whose WAN link breaks: the hosts' memory relays carry QEMU's stream, and the
/// test cuts the link between them once the VM runs on the destination. Neither QEMU sees the break: the relays
/// reconnect and resend, the move completes. A link that stays down past the recovery window fails as before.
/// </summary>
public sealed partial class WholeVmMoveTests
{
    // Nearly the disk's 16384 records, written at most one per 5 ms: the guest still writes at pre-switchover, however
    // fast TCG runs it, and keeps writing on the destination until the test pauses it there.
    private const int CutRecords = 16_000;
    private const int CutRecordDelayMicroseconds = 5000;

    [Fact]
    public async Task PostCopyLinkCut_For10Seconds_QemuNeverSeesIt_MoveCompletes_WriterCarriesOn()
    {
        var logs = new CapturedLogs();
        await using var rig = await WholeVmRig.StartAsync(_dir, CutRecords, Run, dirtyMiB: 24, delayMicroseconds: CutRecordDelayMicroseconds, logs: logs);
        await using var move = await PostCopyThroughCuttableLinkAsync(rig);

        move.Link.Cut();
        await Task.Delay(TimeSpan.FromSeconds(10));
        // The relays hold QEMU's connections open: the source QEMU still streams post-copy, it never paused.
        Assert.Equal("postcopy-active", await SourceStatusAsync(rig, _ => true));
        Assert.False(move.Continuing.IsCompleted, "the move waits while the link is cut");
        move.Link.Restore();

        object answer = await move.Continuing;
        var continued = answer as VmMemoryMigrated ?? throw new Xunit.Sdk.XunitException(
            $"expected VmMemoryMigrated, got {answer}; {string.Join('\n', logs.Lines.Where(l => l.Contains("relay", StringComparison.Ordinal)))}");
        Assert.True(continued.PostCopy && continued.PostCopyBytes > 0, $"post-copy {continued.PostCopy}, {continued.PostCopyBytes} bytes");
        string[] relay = [.. logs.Lines.Where(l => l.Contains("memory relay", StringComparison.Ordinal))];
        Assert.Contains(relay, l => l.Contains("link broke", StringComparison.Ordinal));
        Assert.Contains(relay, l => l.Contains("resumed after", StringComparison.Ordinal));
        Assert.DoesNotContain(relay, l => l.Contains("failed", StringComparison.Ordinal) || l.Contains("did not come back", StringComparison.Ordinal));
        Assert.True(move.Link.Accepted >= 2, $"the source's relay came back through the link ({move.Link.Accepted} connection(s))");
        output.WriteLine(string.Join('\n', relay));

        Assert.IsType<SourceVmStopped>(await rig.Source.Node.Memory.StopSourceAsync(new StopSourceVm(move.Migration, WholeVmRig.VmId, rig.Source.HostId), CancellationToken.None));
        await rig.Qemu.WaitForExitAsync(TimeSpan.FromSeconds(30));

        // The writer carries on in the destination QEMU (not rebooted); paused there, every record it reported is on B.
        long carried = Math.Max(TestGuest.LastProgress(rig.DestinationConsole), move.AtPause.HighestSequence);
        await WaitForAsync(() => TestGuest.LastProgress(rig.DestinationConsole) >= carried + 500, TimeSpan.FromSeconds(120), "the guest to keep writing on the destination", rig);
        Assert.IsType<VmPaused>(await rig.Destination.Node.Operations.PauseAsync(new PauseVm(Guid.NewGuid(), WholeVmRig.VmId, rig.Destination.HostId), CancellationToken.None));
        long reported = TestGuest.LastProgress(rig.DestinationConsole);
        var destination = await WorkloadVerifier.VerifyAsync(move.B.FilePath, Run);
        Assert.True(destination.IsIntact, $"destination: {destination}");
        Assert.Equal(destination.HighestSequence + 1, destination.ValidRecords);
        Assert.InRange(destination.HighestSequence, reported, CutRecords - 1);
        Assert.DoesNotContain("TPW start", rig.DestinationConsole);
        Assert.DoesNotContain("I/O error", rig.DestinationConsole);
        Assert.All(move.B.Export.Writes, offset => Assert.True(offset > move.AtPause.HighestSequence * WorkloadRecord.Size, $"write at {offset} went to B"));
    }

    [Fact]
    public async Task PostCopyLinkCut_PastTheRecoveryWindow_IsReportedFailed_SourceNotResumed()
    {
        var logs = new CapturedLogs();
        await using var rig = await WholeVmRig.StartAsync(_dir, CutRecords, Run, o => o.MigrationRecoveryWindow = TimeSpan.FromSeconds(5), dirtyMiB: 24,
            delayMicroseconds: CutRecordDelayMicroseconds, logs: logs);
        await using var move = await PostCopyThroughCuttableLinkAsync(rig);

        move.Link.Cut();
        var failed = Assert.IsType<HostOperationFailed>(await move.Continuing);
        Assert.Contains("recovery window (5 s)", failed.Reason);
        Assert.Contains(logs.Lines, l => l.Contains("did not come back within 5 s", StringComparison.Ordinal));
        // The pages only the source holds stay there: the source neither runs again nor lets a ResumeVm run it.
        Assert.Equal("postcopy-paused", await SourceStatusAsync(rig, _ => true));
        Assert.False(await QueryRunningAsync(rig));
        object resume = await rig.Source.Node.Operations.ResumeAsync(new ResumeVm(move.Migration, WholeVmRig.VmId, rig.Source.HostId), CancellationToken.None);
        Assert.Contains("cannot resume here", Assert.IsType<HostOperationFailed>(resume).Reason);
        Assert.False(await QueryRunningAsync(rig));
    }

    // Moves the guest (dirtying memory faster than 4 MiB/s) until its memory is in post-copy with the VM resumed on the
    // destination, the relays' link going through a cuttable relay; ContinueVmMigration is under way (the source's wait for the end).
    private async Task<CutPostCopy> PostCopyThroughCuttableLinkAsync(WholeVmRig rig)
    {
        await WaitForAsync(() => TestGuest.LastProgress(rig.Qemu.Output) >= 300, TimeSpan.FromSeconds(120), "the workload to reach record 300", rig);
        var migration = Guid.NewGuid();
        var memory = new MemoryMigrationOptions(PostCopyAfterRounds: 2);
        var described = Assert.IsType<VmDescribed>(await rig.DescribeAsync(migration));
        string bSocket = _dir.File("b.sock");
        var early = Upstream.Start(bSocket, _dir.File("other.img"), "other", 4096);
        var prepared = Assert.IsType<IncomingVmPrepared>(await rig.PrepareAsync(migration, described.Definition, bSocket, memory));
        var link = CuttableRelay.Start(new IPEndPoint(IPAddress.Loopback, 0), IPEndPoint.Parse(prepared.MigrationEndpoint));

        object? migrated = await rig.MigrateAsync(migration, link.EndPoint.ToString()!, 4L << 20, [], memory);
        var preSwitchover = migrated as MemoryPreSwitchover ?? throw new Xunit.Sdk.XunitException($"expected MemoryPreSwitchover, got {migrated}");
        Assert.True(preSwitchover.PostCopy, "the move went post-copy");
        var atPause = await WorkloadVerifier.VerifyAsync(rig.A.FilePath, Run);
        Assert.True(atPause.IsIntact, $"source at pre-switchover: {atPause}");
        File.Copy(rig.A.FilePath, _dir.File("b.img"));
        await early.DisposeAsync();
        var b = Upstream.Start(bSocket, _dir.File("b.img"), WholeVmRig.Export, WholeVmRig.DiskSize);

        var resuming = rig.Destination.Node.Operations.ResumeAsync(new ResumeVm(migration, WholeVmRig.VmId, rig.Destination.HostId), CancellationToken.None);
        var continuing = rig.Source.Node.Memory.ContinueAsync(new ContinueVmMigration(migration, WholeVmRig.VmId, rig.Source.HostId), CancellationToken.None);
        Assert.IsType<VmResumed>(await resuming);
        Assert.Equal("postcopy-active", await SourceStatusAsync(rig, _ => true));
        return new CutPostCopy(migration, link, b, atPause, continuing);
    }

    // The source QEMU's migration status once it satisfies `done` (woken every 50 ms, at most 60 s).
    private static async Task<string> SourceStatusAsync(WholeVmRig rig, Func<string, bool> done)
    {
        var qmp = ((Teleport.Host.Hypervisor.QmpHypervisor)await rig.Source.Vm(WholeVmRig.VmId).HypervisorAsync(CancellationToken.None)).Client;
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            string status = (await qmp.ExecuteAsync("query-migrate")).GetProperty("status").GetString()!;
            if (done(status) || deadline.Elapsed > TimeSpan.FromSeconds(60))
                return status;
            await Task.Delay(50);
        }
    }

    private sealed record CutPostCopy(Guid Migration, CuttableRelay Link, Upstream B, WorkloadReport AtPause, Task<object> Continuing) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await Link.DisposeAsync();
            await B.DisposeAsync();
        }
    }
}
