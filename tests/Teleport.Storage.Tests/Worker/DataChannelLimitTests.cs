using System.Net;
using System.Net.Sockets;
using Teleport.Contracts;
using Teleport.Storage.Worker;

namespace Teleport.Storage.Tests.Worker;

/// <summary>The data channel's handshake caps and timeout come from the worker's settings (Storage:DataChannel).</summary>
public sealed class DataChannelLimitTests
{
    private static readonly MigrationOptions Options = new(BlockSize: 4096);

    [Fact]
    public async Task A_prepared_destination_caps_strangers_per_peer_and_times_them_out_as_configured()
    {
        // The default allows 8 strangers per address for 30 s; these settings allow one for 3 s.
        await using var rig = await MigrationRig.Start(o => o.DataChannel = new DataChannelLimits
        {
            HandshakeTimeout = TimeSpan.FromSeconds(3), MaxHandshakes = 4, MaxHandshakesPerPeer = 1,
        });
        var id = Guid.NewGuid();
        await rig.Prepare(id, Options);
        var prepared = await rig.Log.WaitFor<DestinationPrepared>(e => e.MigrationId == id, MigrationRig.Timeout);
        var endPoint = IPEndPoint.Parse(prepared.DataEndpoint);

        using var first = await ConnectAsync(endPoint);
        using var second = await ConnectAsync(endPoint);
        Assert.True(await ClosedByServerAsync(second, TimeSpan.FromSeconds(20)), "a second stranger from the same address was not refused");
        Assert.False(first.Poll(0, SelectMode.SelectRead), "the first stranger was closed before its handshake timeout");
        Assert.True(await ClosedByServerAsync(first, TimeSpan.FromSeconds(20)), "a silent stranger outlived the 3 s handshake timeout");

        // The real source still gets in, its handshake bounded by the same setting.
        await rig.StartTransfer(id, prepared, Options);
        await rig.Log.WaitFor<DirtyBelowThreshold>(e => e.MigrationId == id, MigrationRig.Timeout);
    }

    private static async Task<Socket> ConnectAsync(IPEndPoint endPoint)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(endPoint);
        return socket;
    }

    private static async Task<bool> ClosedByServerAsync(Socket socket, TimeSpan within)
    {
        using var timeout = new CancellationTokenSource(within);
        byte[] buffer = new byte[256];
        try
        {
            while (await socket.ReceiveAsync(buffer, timeout.Token) > 0)
            {
            }

            return true;
        }
        catch (SocketException)
        {
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
