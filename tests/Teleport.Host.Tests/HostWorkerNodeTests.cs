using System.Net.Sockets;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Teleport.Contracts;
using Teleport.Host.Switching;
using Teleport.Host.Tests.Support;
using Teleport.Host.Worker;
using Teleport.Nbd.Client;

namespace Teleport.Host.Tests;

/// <summary>
/// The composable form: two host worker nodes with caller-supplied hypervisors on one in-memory bus (as
/// <c>teleport demo</c> wires them), and the report of an upstream lost outside a switch.
/// </summary>
public sealed class HostWorkerNodeTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task TwoNodesOnOneBus_EachAnswersOnItsOwnQueue_WithTheSuppliedHypervisor()
    {
        await using var a = Upstream.Start(_dir.File("a.sock"), _dir.File("a.img"), "vol", 1024 * 1024);
        var vm1 = new ScriptedHypervisor();
        var vm2 = new ScriptedHypervisor();
        var recorder = BusProbe.Recorder();
        HostWorkerOptions Node(string host, string vm, ScriptedHypervisor hypervisor) => new HostWorkerOptions { HostId = host }
            .AddVm(vm, new HostVmOptions { DiskListen = $"unix:{_dir.File(vm + ".sock")}", StorageId = "store-a", Upstream = $"unix:{a.SocketPath}", Export = "vol" }
                .UseHypervisor(hypervisor));

        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddHostWorkerNode(Node("h1", "vm-1", vm1));
        builder.Services.AddHostWorkerNode(Node("h2", "vm-2", vm2));
        Assert.Throws<ArgumentException>(() => builder.Services.AddHostWorkerNode(Node("h2", "vm-9", vm2)));
        builder.Services.AddMassTransit(x =>
        {
            x.DisableUsageTelemetry();
            x.UsingInMemory((context, cfg) =>
            {
                cfg.ConfigureHostWorkerEndpoint(context, "h1");
                cfg.ConfigureHostWorkerEndpoint(context, "h2");
                cfg.ReceiveEndpoint("recorder", e => e.Instance(recorder));
            });
        });
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            var bus = host.Services.GetRequiredService<IBus>();
            var id = Guid.NewGuid();
            await (await bus.GetSendEndpoint(new Uri($"queue:{WorkerQueues.Host("h1")}"))).Send(new PauseVm(id, "vm-1", "h1"));
            await (await bus.GetSendEndpoint(new Uri($"queue:{WorkerQueues.Host("h2")}"))).Send(new PauseVm(id, "vm-2", "h2"));
            await (await bus.GetSendEndpoint(new Uri($"queue:{WorkerQueues.Host("h2")}"))).Send(new PauseVm(id, "vm-1", "h2"));
            await recorder.NextAsync(id, 2);
            var events = recorder.Of(id);
            Assert.Contains(events, e => e is VmPaused { HostId: "h1", VmId: "vm-1" });
            Assert.Contains(events, e => e is VmPaused { HostId: "h2", VmId: "vm-2" });
            Assert.Contains(events, e => e is HostOperationFailed { HostId: "h2", VmId: "vm-1" } f && f.Reason.Contains("unknown VM 'vm-1' on host 'h2'"));
            Assert.False(vm1.Running);
            Assert.False(vm2.Running);
            Assert.Equal((1, 1), (vm1.Pauses, vm2.Pauses));

            // Each node's path switcher serves its VM's disk.
            await using var client = await NbdClient.ConnectAsync(new UnixDomainSocketEndPoint(_dir.File("vm-2.sock")), "vol");
            Assert.Equal(1024 * 1024, client.Size);
        }
        finally
        {
            await host.StopAsync();
        }
    }

    [Fact]
    public async Task UpstreamLostOutsideASwitch_IsReportedOnTheBus_AndTheDiskRecoversWhenItIsBack()
    {
        await using var a = Upstream.Start(_dir.File("a.sock"), _dir.File("a.img"), "vol", 1024 * 1024);
        string vmId = $"vm-{Guid.NewGuid():N}"[..15];
        await using var probe = await BusProbe.StartAsync();
        await using var worker = await HostWorkerRunner.StartAsync(o => o.AddVm(vmId, new HostVmOptions
        {
            DiskListen = $"unix:{_dir.File("disk.sock")}",
            StorageId = "store-a",
            Upstream = $"unix:{a.SocketPath}",
            Export = "vol",
        }.UseHypervisor(new ScriptedHypervisor())));
        var events = new List<UpstreamEvent>();
        bool HasReconnectFailure()
        {
            lock (events)
                return events.Any(e => e.Kind == UpstreamEventKind.ReconnectFailed);
        }

        worker.Vm(vmId).Switcher!.UpstreamChanged += e => { lock (events) events.Add(e); };

        await using var vm = await NbdClient.ConnectAsync(new UnixDomainSocketEndPoint(_dir.File("disk.sock")), "vol");
        byte[] block = new byte[4096];
        block.AsSpan().Fill(0x5a);
        await vm.WriteAsync(0, block);

        await a.StopAsync();
        var write = vm.WriteAsync(8192, block).AsTask();
        var lost = Assert.IsType<HostOperationFailed>(await probe.NextAsync(e => e is HostOperationFailed f && f.VmId == vmId, 0, $"the upstream report of {vmId}"));
        Assert.Equal((Guid.Empty, HostWorkerNode.UpstreamOperation, worker.HostId), (lost.MigrationId, lost.Operation, lost.HostId));
        Assert.Contains("lost", lost.Reason);
        Assert.False(write.IsCompleted);

        // Reconnecting goes on (and fails) while the upstream is away.
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (!HasReconnectFailure())
        {
            Assert.True(waited.Elapsed < TimeSpan.FromSeconds(10), "no failed reconnect attempt was reported");
            await Task.Delay(20);
        }

        a.Restart();
        await write.WaitAsync(TimeSpan.FromSeconds(15));
        byte[] file = a.ReadFile();
        Assert.Equal(0x5a, file[8192]);
        lock (events)
        {
            Assert.Equal(UpstreamEventKind.Lost, events[0].Kind);
            Assert.Contains(events, e => e.Kind == UpstreamEventKind.ReconnectFailed);
            Assert.Equal(UpstreamEventKind.Restored, events[^1].Kind);
        }
    }
    [Fact]
    public async Task AStaleSocketAtDiskListenIsReplaced_ARegularFileIsLeftAlone_AndTheVmSaysItsPathIsDown()
    {
        await using var a = Upstream.Start(_dir.File("a.sock"), _dir.File("a.img"), "vol", 1024 * 1024);
        string stale = _dir.File("stale.sock");
        // A process killed while listening leaves its socket file behind (.NET would remove its own on dispose).
        await using (var killed = await QemuProcess.StartAsync(stale, "-machine", "none", "-nodefaults", "-display", "none", "-S"))
        {
            await killed.SignalAsync("KILL");
            await killed.WaitForExitAsync(TimeSpan.FromSeconds(10));
        }

        Assert.True(File.Exists(stale));
        string regular = _dir.File("regular.file");
        await File.WriteAllTextAsync(regular, "not a socket");
        await using var probe = await BusProbe.StartAsync();
        await using var worker = await HostWorkerRunner.StartAsync(o => o
            .AddVm("vm-stale", new HostVmOptions { DiskListen = $"unix:{stale}", StorageId = "store-a", Upstream = $"unix:{a.SocketPath}", Export = "vol" }
                .UseHypervisor(new ScriptedHypervisor()))
            .AddVm("vm-file", new HostVmOptions { DiskListen = $"unix:{regular}", StorageId = "store-a", Upstream = $"unix:{a.SocketPath}", Export = "vol" }
                .UseHypervisor(new ScriptedHypervisor()))
            .AddStorage("store-b", $"unix:{a.SocketPath}"));

        await using var client = await NbdClient.ConnectAsync(new UnixDomainSocketEndPoint(stale), "vol");
        Assert.Equal(1024 * 1024, client.Size);
        Assert.Equal("not a socket", await File.ReadAllTextAsync(regular));
        Assert.Null(worker.Vm("vm-file").Switcher);
        Assert.NotNull(worker.Vm("vm-file").StartError);

        var id = Guid.NewGuid();
        Assert.IsType<VmPaused>(await probe.AskAsync(worker.HostId, new PauseVm(id, "vm-file", worker.HostId), id));
        var failed = Assert.IsType<HostOperationFailed>(await probe.AskAsync(worker.HostId,
            new SwitchTarget(id, "vm-file", worker.HostId, "vol", "store-b", $"unix:{a.SocketPath}", "vol"), id));
        Assert.Contains("the disk path of VM 'vm-file' is not up", failed.Reason);
    }
}
