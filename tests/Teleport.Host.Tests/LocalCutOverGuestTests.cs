using System.Collections.Concurrent;
using System.Net.Sockets;
using MassTransit;
using Teleport.Blocks;
using Teleport.Contracts;
using Teleport.Host.Switching;
using Teleport.Host.Tests.Support;
using Teleport.Host.Workload;
using Teleport.Nbd.Exports;
using Teleport.Nbd.Server;
using Xunit.Abstractions;

namespace Teleport.Host.Tests;

/// <summary>
/// A fenced cut-over the host carries itself (PauseVm.CutOverVolumeId), with the real guest writing sequenced records,
/// real NBD servers and the real broker: the destination offers the export held (its commands wait for the fence), so
/// the host selects it before the pause; one PauseVm, and the host sends FinalSync to its source storage, switches on
/// that connection with no round trip to the destination, resumes there while the destination still holds the export,
/// and reports VmPaused, TargetSwitched and VmResumed in that order. The broker cut off from the host as the source takes
/// FinalSync does not stretch the pause; the saga's own steps arriving afterwards are answered as duplicates; the guest's
/// I/O waits for the destination's fence and no record is lost.
/// </summary>
public sealed class LocalCutOverGuestTests(ITestOutputHelper output) : IDisposable
{
    private const int Records = 3000;
    private const long VolumeSize = 16L * 1024 * 1024;
    private const int BudgetMs = 20_000;

    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task One_PauseVm_carries_the_whole_cut_over_without_the_broker_and_the_sagas_steps_are_duplicates()
    {
        const ulong run = 13;
        string source = $"store-{Guid.NewGuid():N}"[..20];
        // Destination B offers the export held: selectable at once, every command waiting until the test serves it.
        var registry = new NbdExportRegistry();
        var held = FencedNbdExport.Held(HostRig.Export, new BlockFence(VolumeSize, 4096, TimeSpan.FromMinutes(2)));
        registry.Add(held);
        await using var server = new NbdServer(registry);
        server.Listen(new UnixDomainSocketEndPoint(_dir.File("b-server.sock")));
        await using var nbdRelay = CuttableRelay.Start(new UnixDomainSocketEndPoint(_dir.File("b.sock")), new UnixDomainSocketEndPoint(_dir.File("b-server.sock")));
        await using var broker = await BrokerRelay.StartAsync();
        var logs = new CapturedLogs();
        await using var rig = await HostRig.StartAsync(_dir, VolumeSize, o =>
        {
            o.Bus = broker.Bus;
            o.SendFinalSync = true;
            o.Vms[HostRig.VmId].StorageId = source;
        }, disk => TestGuest.Arguments(disk, Records, run), logs: logs);
        // The host loses the broker as the source takes FinalSync: what is left of the cut-over must not need it.
        await using var storage = await SourceStandIn.StartAsync(source, broker.Relay.Cut);
        string host = rig.HostId;
        var id = Guid.NewGuid();
        await TestGuest.WaitForAsync(rig.Qemu, () => TestGuest.LastProgress(rig.Qemu.Output) >= 500, TimeSpan.FromSeconds(120), "the workload to reach record 500");

        var pause = new PauseVm(id, HostRig.VmId, host, 1, "store-b", "unix:/nowhere.sock", HostRig.Export, BudgetMs, CutOverVolumeId: "vol-7");
        await rig.Probe.SendAsync(host, pause);
        await TestGuest.WaitForAsync(rig.Qemu, () => rig.Vm.LastResume?.Key.MigrationId == id, TimeSpan.FromSeconds(60), "the host to resume the VM");
        var pausedFor = rig.Vm.LastResume!.Value.At - rig.Vm.LastPause!.Value.At;
        output.WriteLine($"paused for {pausedFor.TotalMilliseconds:0.#} ms, the broker cut off during the cut-over");
        // Resumed by the cut-over on B, not by the guard on the source, while B still holds the export: the pause waited
        // for nothing of the destination's; its one connection selected the export before the pause.
        Assert.True(pausedFor < TimeSpan.FromMilliseconds(BudgetMs), $"paused for {pausedFor}");
        Assert.Equal("store-b", rig.Vm.CurrentStorageId);
        Assert.Equal(new UpstreamTarget(new UnixDomainSocketEndPoint(_dir.File("b.sock")), HostRig.Export), rig.Vm.Switcher!.Current);
        Assert.False(held.Serving);
        Assert.Equal(1, nbdRelay.Accepted);
        var lines = logs.Lines.ToList();
        int selected = lines.FindIndex(l => l.Contains("opened ahead of the switch, export selected True", StringComparison.Ordinal));
        int pausedLine = lines.FindIndex(l => l.Contains($"VM {HostRig.VmId} paused", StringComparison.Ordinal));
        Assert.True(selected >= 0 && selected < pausedLine, "the export was not selected before the pause");
        Assert.Contains(lines, l => l.Contains("export selected before True", StringComparison.Ordinal));

        // The source's final round: the fence is armed (nothing left to fetch here: B gets A's image) and B served.
        await TestGuest.WaitForAsync(rig.Qemu, () => !storage.Received.IsEmpty, TimeSpan.FromSeconds(60), "the host's FinalSync");
        File.Copy(rig.A.FilePath, _dir.File("b.img"));
        var b = new RecordingExport(new FileNbdExport(HostRig.Export, _dir.File("b.img"), readOnly: false));
        held.Fence.Arm([]);
        held.Serve(b);
        Assert.True(storage.Received.TryPeek(out var sync));
        Assert.Equal((id, "vol-7", source, 1), (sync.MigrationId, sync.VolumeId, sync.SourceStorageId, sync.Attempt));

        // Back on the broker, the host's reports arrive in the order of the steps, at least once each (a report whose
        // confirm the cut lost is published again, equal to the first).
        broker.Relay.Restore();
        await rig.Probe.NextAsync(e => e is VmResumed r && r.MigrationId == id, 0, "the host's VmResumed");
        var events = rig.Probe.Of(id).Distinct().ToList();
        Assert.Equal(3, events.Count);
        var paused = Assert.IsType<VmPaused>(events[0]);
        var switched = Assert.IsType<TargetSwitched>(events[1]);
        var resumed = Assert.IsType<VmResumed>(events[2]);
        Assert.Equal("store-b", switched.StorageId);
        Assert.True(paused.PausedAt <= switched.SwitchedAt && switched.SwitchedAt <= resumed.ResumedAt);

        // The saga's own steps reach work done: answered as the first time, the VM left alone, and a repeated PauseVm
        // starts no second cut-over (no second FinalSync).
        int syncs = storage.Received.Count;
        Assert.All(storage.Received, r => Assert.Equal(sync, r));
        var again = Assert.IsType<TargetSwitched>(await rig.Probe.AskAsync(host,
            new SwitchTarget(id, HostRig.VmId, host, "vol-7", "store-b", "unix:/nowhere.sock", HostRig.Export), id));
        Assert.Equal(switched.SwitchedAt, again.SwitchedAt);
        Assert.Equal(resumed.ResumedAt, Assert.IsType<VmResumed>(await rig.Probe.AskAsync(host,
            new ResumeVm(id, HostRig.VmId, host, StorageId: "store-b"), id)).ResumedAt);
        Assert.Equal(paused.PausedAt, Assert.IsType<VmPaused>(await rig.Probe.AskAsync(host, pause, id)).PausedAt);
        Assert.Equal(syncs, storage.Received.Count);
        Assert.Equal(3, rig.Probe.Of(id).Distinct().Count());

        int writesOnA = rig.A.Export.Writes.Count;
        await TestGuest.FinishesAsync(rig.Qemu, Records);
        Assert.Equal(writesOnA, rig.A.Export.Writes.Count);
        var destination = await WorkloadVerifier.VerifyAsync(_dir.File("b.img"), run);
        Assert.True(destination.IsIntact, $"destination: {destination}");
        Assert.Equal(Records, destination.ValidRecords);
        Assert.NotEmpty(b.Writes);
    }

    /// <summary>The source storage worker's queue on the real broker: records FinalSync and runs the stand-in's final sync.</summary>
    private sealed class SourceStandIn(Action finalSync) : IConsumer<FinalSync>, IAsyncDisposable
    {
        private IBusControl? _bus;

        public ConcurrentQueue<FinalSync> Received { get; } = new();

        public static async Task<SourceStandIn> StartAsync(string storageId, Action finalSync)
        {
            var standIn = new SourceStandIn(finalSync);
            standIn._bus = MassTransit.Bus.Factory.CreateUsingRabbitMq(cfg =>
            {
                cfg.UseTestBroker();
                cfg.ReceiveEndpoint(WorkerQueues.Storage(storageId), e =>
                {
                    // Declared as the host's send declares it (durable: the broker is this test run's own).
                    e.ConfigureConsumeTopology = false;
                    e.Instance(standIn);
                });
            });
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await standIn._bus.StartAsync(cts.Token);
            return standIn;
        }

        public Task Consume(ConsumeContext<FinalSync> context)
        {
            if (Received.IsEmpty)
                finalSync();
            Received.Enqueue(context.Message);
            return Task.CompletedTask;
        }

        public async ValueTask DisposeAsync()
        {
            if (_bus is not null)
                await _bus.StopAsync();
        }
    }
}
