using Teleport.Nbd.Client;
using Teleport.Nbd.Server;
using Teleport.Nbd.Tests.Support;

namespace Teleport.Nbd.Tests;

/// <summary>The server knows which exports have clients attached (a volume in use must not be deleted).</summary>
public sealed class ClientCountTests
{
    [Fact]
    public async Task ClientsOf_counts_attached_connections_per_export_and_drops_them_on_disconnect()
    {
        await using var harness = ServerHarness.Start();
        harness.AddExport("a", 1 << 20);
        harness.AddExport("b", 1 << 20);
        Assert.Equal(0, harness.Server.ClientsOf("a"));

        var first = await NbdClient.ConnectAsync(harness.EndPoint, "a");
        var second = await NbdClient.ConnectAsync(harness.EndPoint, "a");
        await using (var other = await NbdClient.ConnectAsync(harness.EndPoint, "b"))
        {
            await Until(() => harness.Server.ClientsOf("a") == 2 && harness.Server.ClientsOf("b") == 1);
            // Listing exports is not attaching to one.
            _ = await NbdClient.ListExportsAsync(harness.EndPoint);
            Assert.Equal(2, harness.Server.ClientsOf("a"));
            Assert.Equal(0, harness.Server.ClientsOf("missing"));
        }

        await first.DisposeAsync();
        await Until(() => harness.Server.ClientsOf("a") == 1 && harness.Server.ClientsOf("b") == 0);
        await second.DisposeAsync();
        await Until(() => harness.Server.ClientsOf("a") == 0);
    }

    [Fact]
    public async Task A_connection_over_the_per_peer_cap_is_closed_and_one_freed_lets_the_next_in()
    {
        await using var harness = ServerHarness.Start(new NbdServerOptions { MaxConnectionsPerPeer = 2 });
        harness.AddExport("a", 1 << 20);
        var first = await NbdClient.ConnectAsync(harness.EndPoint, "a");
        await using var second = await NbdClient.ConnectAsync(harness.EndPoint, "a");

        await Assert.ThrowsAnyAsync<Exception>(() => NbdClient.ConnectAsync(harness.EndPoint, "a"));
        Assert.Equal(2, harness.Server.ClientsOf("a"));

        await first.DisposeAsync();
        await Until(() => harness.Server.ClientsOf("a") == 1);
        await using var third = await NbdClient.ConnectAsync(harness.EndPoint, "a");
        await Until(() => harness.Server.ClientsOf("a") == 2);
    }

    private static async Task Until(Func<bool> condition)
    {
        // Detaching happens on the server's side of the connection, shortly after the client closed it.
        var until = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < until, "the server's client counts did not reach the expected values");
            await Task.Delay(20);
        }
    }
}
