using System.Net;
using System.Net.Sockets;

namespace Teleport.Host.Tests.Support;

/// <summary>The test broker behind a relay that can be cut: a worker given <see cref="Bus"/> loses the broker on <c>Relay.Cut()</c>.</summary>
internal sealed class BrokerRelay(CuttableRelay relay, string bus) : IAsyncDisposable
{
    public CuttableRelay Relay { get; } = relay;

    /// <summary>The broker's address through the relay, as a worker's Bus setting takes it.</summary>
    public string Bus { get; } = bus;

    public static async Task<BrokerRelay> StartAsync()
    {
        var broker = new Uri(TestBroker.Address);
        var address = (await Dns.GetHostAddressesAsync(broker.Host)).First(a => a.AddressFamily == AddressFamily.InterNetwork);
        var relay = CuttableRelay.Start(new IPEndPoint(IPAddress.Loopback, 0), new IPEndPoint(address, broker.Port));
        return new BrokerRelay(relay, new UriBuilder(broker) { Host = "127.0.0.1", Port = ((IPEndPoint)relay.EndPoint).Port }.Uri.ToString());
    }

    public ValueTask DisposeAsync() => Relay.DisposeAsync();
}
