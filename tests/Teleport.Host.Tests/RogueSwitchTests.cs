using System.Net.Sockets;
using MassTransit;
using Teleport.Contracts;
using Teleport.Host.Tests.Support;

namespace Teleport.Host.Tests;

/// <summary>
/// A rogue publisher holding a host worker's own broker credentials (the only role besides the orchestrator that the
/// broker lets write to a host's queue; see Teleport.Contracts.Tests' BusPermissionTests) sends SwitchTarget to a
/// real host worker driving a real QEMU: it cannot lead the VM's disk to an endpoint or unix path of its choosing.
/// </summary>
public sealed class RogueSwitchTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_rogue_SwitchTarget_never_reaches_the_endpoint_it_names()
    {
        await using var rig = await HostRig.StartAsync(_dir);
        await using var b = rig.StartUpstream("b");
        // The rogue's own NBD endpoint: a listening unix socket that counts whoever connects.
        using var trap = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        string trapPath = _dir.File("rogue.sock");
        trap.Bind(new UnixDomainSocketEndPoint(trapPath));
        trap.Listen();
        await using var rogue = await RogueBus.StartAsync(TestBroker.Host);
        var id = Guid.NewGuid();
        string host = rig.HostId;
        Assert.IsType<VmPaused>(await rig.Probe.AskAsync(host, new PauseVm(id, HostRig.VmId, host), id));

        // An unknown storage id with the rogue's unix path, then with a TCP endpoint: refused, nothing connected.
        await rogue.SendAsync(host, new SwitchTarget(id, HostRig.VmId, host, HostRig.Export, "store-rogue", $"unix:{trapPath}", HostRig.Export));
        var refused = Assert.IsType<HostOperationFailed>(await rig.Probe.NextAsync(id, 1));
        Assert.Contains("storage 'store-rogue' is not configured on this host", refused.Reason);
        await rogue.SendAsync(host, new SwitchTarget(id, HostRig.VmId, host, HostRig.Export, "store-rogue2", "203.0.113.7:10809", HostRig.Export));
        Assert.Contains("'store-rogue2' is not configured", Assert.IsType<HostOperationFailed>(await rig.Probe.NextAsync(id, 2)).Reason);
        Assert.Equal(rig.A.Target, rig.Vm.Switcher!.Current);

        // A configured storage id with the rogue's path: the switch goes where the configuration says, B.
        await rogue.SendAsync(host, new SwitchTarget(id, HostRig.VmId, host, HostRig.Export, "store-b", $"unix:{trapPath}", HostRig.Export));
        Assert.Equal("store-b", Assert.IsType<TargetSwitched>(await rig.Probe.NextAsync(id, 3)).StorageId);
        Assert.Equal(b.Target, rig.Vm.Switcher!.Current);

        Assert.False(trap.Poll(0, SelectMode.SelectRead), "the host worker connected to the endpoint the rogue named");
    }

    /// <summary>A send-only bus logged in as one role's broker user.</summary>
    private sealed class RogueBus(IBusControl bus) : IAsyncDisposable
    {
        public static async Task<RogueBus> StartAsync(string address)
        {
            var bus = MassTransit.Bus.Factory.CreateUsingRabbitMq(cfg => cfg.UseTestBroker(address));
            using var starting = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await bus.StartAsync(starting.Token);
            return new RogueBus(bus);
        }

        public async Task SendAsync<T>(string hostId, T command)
            where T : class =>
            await (await bus.GetSendEndpoint(new Uri($"queue:{WorkerQueues.Host(hostId)}"))).Send(command);

        public async ValueTask DisposeAsync()
        {
            using var stopping = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await bus.StopAsync(stopping.Token);
        }
    }
}
