using System.Diagnostics;
using System.Net;
using Teleport.Contracts;
using Teleport.Host.Tests.Support;
using Teleport.Host.Workload;
using Xunit.Abstractions;

namespace Teleport.Host.Tests;

/// <summary>
/// Whole-VM moves between two host workers with the real test guest in real QEMU (TCG): the source host describes the
/// VM, the destination host starts it incoming from that definition, QEMU's memory migration runs paused before
/// switchover, and the guest's writer must carry on in the destination QEMU where it left off.
/// </summary>
public sealed partial class WholeVmMoveTests(ITestOutputHelper output) : IDisposable
{
    private const int Records = 2500;
    private const ulong Run = 77;
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task GuestWriting_MovesWhole_WriterCarriesOnInTheDestinationQemu_SourceQuits()
    {
        await using var rig = await WholeVmRig.StartAsync(_dir, Records, Run);
        await MoveWholeAsync(rig, null);
    }

    [Fact]
    public async Task GuestWriting_MovesWhole_OverTls_WithMultifdZstd()
    {
        string certificates = await MigrationTlsDirectory.CreateAsync(_dir.File("tls"), "127.0.0.1");
        await using var rig = await WholeVmRig.StartAsync(_dir, Records, Run, o => o.MigrationTlsDirectory = certificates);
        await MoveWholeAsync(rig, new MemoryMigrationOptions(Multifd: true, MultifdChannels: 2), async () =>
        {
            // Two zstd multifd channels, each carried by the relay (QEMU's own TLS off: never encrypted twice), whose
            // listener takes nobody without a certificate of the CA: a plain hello is not answered as a relay.
            var qmp = ((Teleport.Host.Hypervisor.QmpHypervisor)await rig.Source.Vm(WholeVmRig.VmId).HypervisorAsync(CancellationToken.None)).Client;
            var parameters = await qmp.ExecuteAsync("query-migrate-parameters");
            Assert.Equal("", parameters.GetProperty("tls-creds").GetString());
            var relay = rig.Destination.Vm(WholeVmRig.VmId).Incoming!.Memory;
            Assert.Equal(2 + 1, relay.Channels.Count);
            Assert.False(await AnsweredInPlainAsync(relay.Port), "the TLS relay answered a plain hello");
            Assert.Equal("zstd", parameters.GetProperty("multifd-compression").GetString());
            Assert.Equal(2, parameters.GetProperty("multifd-channels").GetInt32());
            var capabilities = await qmp.ExecuteAsync("query-migrate-capabilities");
            Assert.Contains(capabilities.EnumerateArray(), c => c.GetProperty("capability").GetString() == "multifd" && c.GetProperty("state").GetBoolean());
        });
    }

    // A move that converges: it must not go post-copy (WholeVmPostCopyLinkCutTests moves a guest that cannot converge).
    private async Task MoveWholeAsync(WholeVmRig rig, MemoryMigrationOptions? memory, Func<Task>? atPreSwitchover = null, bool continueAtSwitchover = false)
    {
        await WaitForAsync(() => TestGuest.LastProgress(rig.Qemu.Output) >= 300, TimeSpan.FromSeconds(120), "the workload to reach record 300", rig);
        var migration = Guid.NewGuid();

        var described = Assert.IsType<VmDescribed>(await rig.DescribeAsync(migration));
        Assert.Equal(WholeVmRig.DiskSize, described.Definition.DiskBytes);
        Assert.Equal(262136L * 1024, described.Definition.MemoryBytes);
        Assert.Equal(WholeVmRig.DiskNode, described.Definition.DiskNodeName);

        // B's storage answers but does not export the volume yet, as during a real move: the incoming VM opens its
        // disk against the size in the definition, and QEMU's read of sector 0 at start must not wait for the export.
        string bSocket = _dir.File("b.sock");
        await using var early = Upstream.Start(bSocket, _dir.File("other.img"), "other", 4096);
        var prepared = Assert.IsType<IncomingVmPrepared>(await rig.PrepareAsync(migration, described.Definition, bSocket, memory));
        Assert.Matches(@"^127\.0\.0\.1:\d+$", prepared.MigrationEndpoint);
        Assert.Equal(prepared, await rig.PrepareAsync(migration, described.Definition, bSocket, memory));

        var progress = new List<MemoryMigrationProgress>();
        var clock = Stopwatch.StartNew();
        object? migrated = await rig.MigrateAsync(migration, prepared.MigrationEndpoint, null, progress, memory, continueAtSwitchover);
        var preSwitchover = migrated as MemoryPreSwitchover ?? throw new Xunit.Sdk.XunitException(
            $"expected MemoryPreSwitchover, got {migrated}; the source QEMU's last output (exited: {rig.Qemu.HasExited}):\n" +
            string.Join('\n', rig.Qemu.Output.Split('\n').TakeLast(40)));
        var memoryPhase = clock.Elapsed;
        Assert.False(preSwitchover.PostCopy, "a converging move went post-copy");
        Assert.False((await QueryRunningAsync(rig)), "the source runs at pre-switchover");
        if (continueAtSwitchover)
            Assert.Equal("completed", await SourceStatusAsync(rig, s => s is "completed" or "failed" or "cancelled"));
        if (atPreSwitchover is not null)
            await atPreSwitchover();

        // The final sync's stand-in: the source volume, paused, becomes the destination's export.
        var atPause = await WorkloadVerifier.VerifyAsync(rig.A.FilePath, Run);
        Assert.True(atPause.IsIntact, $"source at pre-switchover: {atPause}");
        Assert.InRange(atPause.HighestSequence, 299, Records - 2);
        File.Copy(rig.A.FilePath, _dir.File("b.img"));
        await early.DisposeAsync();
        await using var b = Upstream.Start(bSocket, _dir.File("b.img"), WholeVmRig.Export, WholeVmRig.DiskSize);

        // As the saga sends them: ResumeVm reaches the destination with (here: before) ContinueVmMigration; it attaches
        // the disk and runs 'cont' by itself once its memory stream completes.
        var resuming = rig.Destination.Node.Operations.ResumeAsync(new ResumeVm(migration, WholeVmRig.VmId, rig.Destination.HostId), CancellationToken.None);
        Assert.True(continueAtSwitchover || !resuming.IsCompleted, "the destination waits for its memory before 'cont'");
        var continued = Assert.IsType<VmMemoryMigrated>(await rig.Source.Node.Memory.ContinueAsync(
            new ContinueVmMigration(migration, WholeVmRig.VmId, rig.Source.HostId), CancellationToken.None));
        Assert.True(continued.MemoryBytes >= preSwitchover.MemoryBytes);
        var resumed = Assert.IsType<VmResumed>(await resuming);
        Assert.False(continued.PostCopy);
        Assert.True(resumed.ResumedAt >= continued.CompletedAt.AddSeconds(-1), "resumed after the source completed");
        output.WriteLine($"memory pre-copy {memoryPhase.TotalMilliseconds:0} ms, {progress.Count} progress event(s), {continued.MemoryBytes} bytes " +
            $"({continued.PostCopyBytes} post-copy, {(continued.CompletedAt - resumed.ResumedAt).TotalMilliseconds:0} ms behind the resumed VM), " +
            $"QEMU downtime {continued.QemuDowntimeMilliseconds} ms, record {atPause.HighestSequence} at pre-switchover");

        object stopped = await rig.Source.Node.Memory.StopSourceAsync(new StopSourceVm(migration, WholeVmRig.VmId, rig.Source.HostId), CancellationToken.None);
        Assert.IsType<SourceVmStopped>(stopped);
        await rig.Qemu.WaitForExitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(stopped, await rig.Source.Node.Memory.StopSourceAsync(new StopSourceVm(migration, WholeVmRig.VmId, rig.Source.HostId), CancellationToken.None));

        // The writer kept counting in the destination QEMU (no second 'TPW start': the guest was not rebooted).
        await WaitForAsync(() => rig.DestinationConsole.Contains("TPW exit", StringComparison.Ordinal), TimeSpan.FromSeconds(240), "the guest to finish on the destination", rig);
        string console = rig.DestinationConsole;
        Assert.Contains($"TPW done last={Records - 1}", console);
        Assert.Contains("TPW exit 0", console);
        Assert.DoesNotContain("TPW start", console);
        Assert.DoesNotContain("I/O error", console);
        var destination = await WorkloadVerifier.VerifyAsync(b.FilePath, Run);
        Assert.True(destination.IsIntact, $"destination: {destination}");
        Assert.Equal(Records, destination.ValidRecords);
        Assert.All(b.Export.Writes, offset => Assert.True(offset > atPause.HighestSequence * WorkloadRecord.Size, $"write at {offset} went to B"));
    }

    [Fact]
    public async Task ResumeOnTheSource_DuringMemoryMigration_CancelsIt_GuestKeepsRunning_DiscardKillsTheIncomingQemu()
    {
        await using var rig = await WholeVmRig.StartAsync(_dir, 12_000, Run);
        await WaitForAsync(() => TestGuest.LastProgress(rig.Qemu.Output) >= 100, TimeSpan.FromSeconds(120), "the workload to reach record 100", rig);
        var migration = Guid.NewGuid();
        var described = Assert.IsType<VmDescribed>(await rig.DescribeAsync(migration));
        var prepared = Assert.IsType<IncomingVmPrepared>(await rig.PrepareAsync(migration, described.Definition, _dir.File("b.sock")));
        var incoming = rig.Destination.Vm(WholeVmRig.VmId);

        // Memory goes only to a configured peer, at its configured address.
        var elsewhere = Assert.IsType<HostOperationFailed>(await rig.MigrateAsync(migration, "10.9.8.7:4444", null, []));
        Assert.Contains("configured address '127.0.0.1'", elsewhere.Reason);
        var stranger = Assert.IsType<HostOperationFailed>(await rig.Source.Node.Memory.MigrateAsync(new MigrateVmMemory(migration, WholeVmRig.VmId,
            rig.Source.HostId, "host-unknown", prepared.MigrationEndpoint, null, new MemoryMigrationOptions()), _ => Task.CompletedTask, CancellationToken.None));
        Assert.Contains("not a configured peer", stranger.Reason);

        // 1 MiB/s: 256 MiB of memory takes minutes, so the rollback lands in the middle of it.
        var progress = new List<MemoryMigrationProgress>();
        var migrating = rig.MigrateAsync(migration, prepared.MigrationEndpoint, 1024 * 1024, progress);
        await WaitForAsync(() => { lock (progress) return progress.Count >= 2; }, TimeSpan.FromSeconds(60), "memory migration progress", rig);
        Assert.All(progress, p => Assert.Equal("active", p.Status));
        Assert.True(progress[^1].TransferredBytes > progress[0].TransferredBytes || progress[^1].RemainingBytes > 0);

        // The saga asked the destination to resume ahead (with migrate-continue), then the source's migration ended
        // (cancelled here by the rollback's resume on the source): the incoming stream fails, the destination answers
        // that it did not resume, and never runs that QEMU, not even on a repeated ResumeVm.
        await using var b = Upstream.Start(_dir.File("b.sock"), _dir.File("b.img"), WholeVmRig.Export, WholeVmRig.DiskSize);
        var ahead = rig.Destination.Node.Operations.ResumeAsync(new ResumeVm(migration, WholeVmRig.VmId, rig.Destination.HostId), CancellationToken.None);
        object resumed = await rig.Source.Node.Operations.ResumeAsync(new ResumeVm(migration, WholeVmRig.VmId, rig.Source.HostId), CancellationToken.None);
        Assert.IsType<VmResumed>(resumed);
        Assert.Null(await migrating);
        var notResumed = Assert.IsType<HostOperationFailed>(await ahead);
        Assert.Equal((HostOperationNames.Resume, rig.Destination.HostId), (notResumed.Operation, notResumed.HostId));
        output.WriteLine($"destination: {notResumed.Reason}");
        Assert.IsType<HostOperationFailed>(await rig.Destination.Node.Operations.ResumeAsync(
            new ResumeVm(migration, WholeVmRig.VmId, rig.Destination.HostId), CancellationToken.None));
        Assert.True(incoming.Incoming!.Qemu.HasExited);
        Assert.Empty(b.Export.Writes);
        Assert.True(await QueryRunningAsync(rig));
        long before = TestGuest.LastProgress(rig.Qemu.Output);
        await WaitForAsync(() => TestGuest.LastProgress(rig.Qemu.Output) >= before + 100, TimeSpan.FromSeconds(60), "the guest to keep writing on the source", rig);

        object discarded = await rig.Destination.Node.Incoming.DiscardAsync(new DiscardIncomingVm(migration, WholeVmRig.VmId, rig.Destination.HostId), CancellationToken.None);
        Assert.IsType<IncomingVmDiscarded>(discarded);
        Assert.True(incoming.Incoming!.Qemu.HasExited);
        Assert.False(rig.Destination.Node.Vms.ContainsKey(WholeVmRig.VmId));
        Assert.IsType<IncomingVmDiscarded>(await rig.Destination.Node.Incoming.DiscardAsync(
            new DiscardIncomingVm(migration, WholeVmRig.VmId, rig.Destination.HostId), CancellationToken.None));

        // A retry's incoming VM that never received memory: discarding it kills its (live) QEMU.
        var retry = Assert.IsType<IncomingVmPrepared>(await rig.Destination.Node.Incoming.PrepareAsync(new PrepareIncomingVm(migration, WholeVmRig.VmId,
            rig.Destination.HostId, rig.Source.HostId, described.Definition, "store-b", $"unix:{_dir.File("b.sock")}", WholeVmRig.Export, Attempt: 2), CancellationToken.None));
        var waiting = rig.Destination.Vm(WholeVmRig.VmId).Incoming!.Qemu;
        Assert.False(waiting.HasExited);
        int pid = waiting.Pid;
        Assert.Equal(2, retry.Attempt);
        Assert.IsType<IncomingVmDiscarded>(await rig.Destination.Node.Incoming.DiscardAsync(
            new DiscardIncomingVm(migration, WholeVmRig.VmId, rig.Destination.HostId, 2), CancellationToken.None));
        Assert.Throws<ArgumentException>(() => Process.GetProcessById(pid));
        Assert.False(rig.Destination.Node.Vms.ContainsKey(WholeVmRig.VmId));

        // The source still runs, so a stray StopSourceVm must not quit it.
        var refused = Assert.IsType<HostOperationFailed>(await rig.Source.Node.Memory.StopSourceAsync(
            new StopSourceVm(migration, WholeVmRig.VmId, rig.Source.HostId), CancellationToken.None));
        Assert.Contains("not postmigrate", refused.Reason);
        Assert.False(rig.Qemu.HasExited);
    }

    [Fact]
    public async Task TheMemoryStreamCut_DuringPreCopy_PastTheRecoveryWindow_FailsClearly_ResumeOnTheSourceRunsOnWithNothingLost_DiscardCleansTheDestination()
    {
        await using var rig = await WholeVmRig.StartAsync(_dir, 12_000, Run + 1, o => o.MigrationRecoveryWindow = TimeSpan.FromSeconds(3));
        await WaitForAsync(() => TestGuest.LastProgress(rig.Qemu.Output) >= 100, TimeSpan.FromSeconds(120), "the workload to reach record 100", rig);
        var migration = Guid.NewGuid();
        var described = Assert.IsType<VmDescribed>(await rig.DescribeAsync(migration));
        var prepared = Assert.IsType<IncomingVmPrepared>(await rig.PrepareAsync(migration, described.Definition, _dir.File("b.sock")));
        var incoming = rig.Destination.Vm(WholeVmRig.VmId).Incoming!.Qemu;

        // The relays' link can be cut (and stays cut past the recovery window); the peer check compares the host address only.
        await using var link = CuttableRelay.Start(new IPEndPoint(IPAddress.Loopback, 0), IPEndPoint.Parse(prepared.MigrationEndpoint));
        var progress = new List<MemoryMigrationProgress>();
        // 1 MiB/s: 256 MiB of memory takes minutes, so the cut lands inside the pre-copy.
        var migrating = rig.MigrateAsync(migration, link.EndPoint.ToString()!, 1024 * 1024, progress);
        await WaitForAsync(() => { lock (progress) return progress.Count >= 1; }, TimeSpan.FromSeconds(60), "memory migration progress", rig);
        link.Cut();

        var failed = Assert.IsType<HostOperationFailed>(await migrating.WaitAsync(TimeSpan.FromSeconds(60)));
        Assert.Equal(HostOperationNames.MigrateMemory, failed.Operation);
        Assert.Contains("memory migration ended 'failed' before pre-switchover", failed.Reason);
        Assert.True(link.Accepted >= 2, $"the source's relay tried to reconnect ({link.Accepted} connection(s))");

        // The rollback: the source runs on (it never stopped), and its writer keeps going.
        Assert.IsType<VmResumed>(await rig.Source.Node.Operations.ResumeAsync(new ResumeVm(migration, WholeVmRig.VmId, rig.Source.HostId), CancellationToken.None));
        Assert.True(await QueryRunningAsync(rig));
        long before = TestGuest.LastProgress(rig.Qemu.Output);
        await WaitForAsync(() => TestGuest.LastProgress(rig.Qemu.Output) >= before + 100, TimeSpan.FromSeconds(60), "the guest to keep writing on the source", rig);

        Assert.IsType<IncomingVmDiscarded>(await rig.Destination.Node.Incoming.DiscardAsync(
            new DiscardIncomingVm(migration, WholeVmRig.VmId, rig.Destination.HostId), CancellationToken.None));
        Assert.True(incoming.HasExited);
        Assert.False(rig.Destination.Node.Vms.ContainsKey(WholeVmRig.VmId));

        // Nothing lost: with the guest stopped (its disk I/O drained), every record it reported is on the source volume.
        Assert.IsType<VmPaused>(await rig.Source.Node.Operations.PauseAsync(new PauseVm(Guid.NewGuid(), WholeVmRig.VmId, rig.Source.HostId), CancellationToken.None));
        long reported = TestGuest.LastProgress(rig.Qemu.Output);
        var source = await WorkloadVerifier.VerifyAsync(rig.A.FilePath, Run + 1);
        Assert.True(source.IsIntact, $"source after the cut: {source}");
        Assert.Equal(source.HighestSequence + 1, source.ValidRecords);
        Assert.InRange(source.HighestSequence, reported, 12_000 - 1);
        Assert.DoesNotContain("I/O error", rig.Qemu.Output);
        output.WriteLine($"cut after {progress.Count} progress report(s): {failed.Reason}; {source.ValidRecords} records intact on the source");
    }

    // Whether a plain (no TLS) relay hello to the destination's relay gets an accepted answer.
    private static async Task<bool> AnsweredInPlainAsync(int port)
    {
        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);
        var stream = client.GetStream();
        await stream.WriteAsync(new Relay.RelayHello(Relay.RelayHello.Open, 0, 0).Encode());
        byte[] reply = new byte[Relay.RelayHello.ReplySize];
        try
        {
            return await stream.ReadAtLeastAsync(reply, reply.Length, throwOnEndOfStream: false) == reply.Length && reply[0] == Relay.RelayHello.Accepted;
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static async Task<bool> QueryRunningAsync(WholeVmRig rig)
    {
        var hypervisor = await rig.Source.Vm(WholeVmRig.VmId).HypervisorAsync(CancellationToken.None);
        return (await hypervisor.QueryStatusAsync()).Running;
    }

    private static async Task WaitForAsync(Func<bool> condition, TimeSpan timeout, string what, WholeVmRig rig)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            if (deadline.Elapsed > timeout)
                throw new TimeoutException($"Gave up waiting for {what}; source console:\n{rig.Qemu.Output}\ndestination console:\n{rig.DestinationConsole}");
            await Task.Delay(50);
        }
    }
}
