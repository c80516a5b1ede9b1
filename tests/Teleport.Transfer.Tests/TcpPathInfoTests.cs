using System.Net;
using System.Net.Sockets;

namespace Teleport.Transfer.Tests;

public class TcpPathInfoTests
{
    [Fact]
    public async Task The_kernel_reports_the_round_trip_and_data_it_still_has_to_send()
    {
        using var listener = new Socket(SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        using var client = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(listener.LocalEndPoint!);
        using var server = await listener.AcceptAsync();

        // One exchange gives the kernel a round-trip sample.
        await client.SendAsync(new byte[] { 1 });
        byte[] one = new byte[1];
        await server.ReceiveAsync(one);
        await server.SendAsync(one);
        await client.ReceiveAsync(one);
        Assert.True(TcpPathInfo.TryRead(client, out var idle), "TCP_INFO is readable on Linux");
        Assert.True(idle.RoundTrip > TimeSpan.Zero);
        Assert.True(idle.RoundTrip < TimeSpan.FromSeconds(1));
        Assert.True(idle.CongestionWindow > 0);
        Assert.Equal(0, idle.NotSentBytes);
        Assert.False(idle.LinkBusy);

        // The peer stops reading: its window fills and what the client writes next waits in the kernel.
        client.Blocking = false;
        byte[] chunk = new byte[64 * 1024];
        long written = 0;
        while (true)
        {
            int sent = client.Send(chunk, 0, chunk.Length, SocketFlags.None, out var error);
            if (error == SocketError.WouldBlock)
                break;
            Assert.Equal(SocketError.Success, error);
            written += sent;
        }

        Assert.True(TcpPathInfo.TryRead(client, out var blocked));
        Assert.True(blocked.NotSentBytes > 0, $"{written} bytes written to a peer that does not read leave some unsent");
        Assert.True(blocked.LinkBusy);
    }

    [Fact]
    public void A_socket_that_is_not_tcp_reads_nothing()
    {
        using var udp = new Socket(SocketType.Dgram, ProtocolType.Udp);
        udp.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        Assert.False(TcpPathInfo.TryRead(udp, out var info));
        Assert.Equal(default, info);
    }
}
