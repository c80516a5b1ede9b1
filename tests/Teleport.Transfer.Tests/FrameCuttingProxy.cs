using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Teleport.Transfer.Protocol;

namespace Teleport.Transfer.Tests;

/// <summary>
/// Test-only TCP proxy between source and destination that understands the frame header: on the first connection it
/// cuts both sides when the <see cref="CutAtOccurrence"/>-th frame of <see cref="CutType"/> passes (forwarding only half
/// of that frame, so the receiver sees a truncated frame), or goes silent without closing (<see cref="BlackHole"/>).
/// Later connections pass through untouched. With <see cref="HoldRequestsUntilData"/> (and no cut) it holds the
/// destination's requests back until a Data frame has passed the other way: the interleaving of a source that resends
/// before the destination's list reaches it, made certain.
/// </summary>
public sealed class FrameCuttingProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly IPEndPoint _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private int _connections;
    private int _seen;

    internal FrameCuttingProxy(IPEndPoint target, MessageType cutType, int cutAtOccurrence, bool blackHole = false, bool holdRequestsUntilData = false)
    {
        BlackHole = blackHole;
        HoldRequestsUntilData = holdRequestsUntilData;
        _target = target;
        CutType = cutType;
        CutAtOccurrence = cutAtOccurrence;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    internal MessageType CutType { get; }

    public int CutAtOccurrence { get; }

    /// <summary>Instead of closing at the cut, swallow everything from then on (a link that died silently).</summary>
    public bool BlackHole { get; }

    /// <summary>Request and RequestEnd frames wait until a Data frame has been forwarded (frames keep their order).</summary>
    public bool HoldRequestsUntilData { get; }


    public IPEndPoint EndPoint => (IPEndPoint)_listener.LocalEndpoint;

    public int Connections => _connections;

    public bool HasCut { get; private set; }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception)
            {
                return;
            }

            int index = Interlocked.Increment(ref _connections);
            _ = PumpConnectionAsync(client, cutting: index == 1);
        }
    }

    private async Task PumpConnectionAsync(TcpClient client, bool cutting)
    {
        using var upstream = new TcpClient();
        using var _ = client;
        try
        {
            await upstream.ConnectAsync(_target, _stop.Token);
        }
        catch (Exception)
        {
            return;
        }

        var link = new Link(client.Client, upstream.Client, cutting);
        var a = PumpAsync(client.GetStream(), upstream.GetStream(), link);
        var b = PumpAsync(upstream.GetStream(), client.GetStream(), link);
        await Task.WhenAll(a, b);
    }

    /// <summary>One proxied connection: its two sockets and whether it was cut.</summary>
    private sealed class Link(Socket client, Socket upstream, bool cutting)
    {
        public bool Cutting { get; } = cutting;

        public volatile bool Silent;

        public TaskCompletionSource DataPassed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        // A clean FIN both ways (not a close with unread data, which would send RST and make the peers drop what
        // was already forwarded): each side reads everything it got, then sees the end of the stream.
        public void Cut()
        {
            Silent = true;
            foreach (var socket in new[] { client, upstream })
            {
                try
                {
                    socket.Shutdown(SocketShutdown.Send);
                }
                catch (SocketException)
                {
                }
            }
        }
    }

    private async Task PumpAsync(NetworkStream from, NetworkStream to, Link link)
    {
        byte[] header = new byte[ProtocolConstants.HeaderSize];
        byte[] payload = new byte[ProtocolConstants.MaxPayload];
        try
        {
            while (true)
            {
                await from.ReadExactlyAsync(header, _stop.Token);
                int length = (int)BinaryPrimitives.ReadUInt32LittleEndian(header);
                await from.ReadExactlyAsync(payload.AsMemory(0, length), _stop.Token);
                if (link.Silent)
                    continue; // after the cut everything is swallowed until both sides have closed
                if (link.Cutting && header[4] == (byte)CutType && Interlocked.Increment(ref _seen) == CutAtOccurrence)
                {
                    HasCut = true;
                    if (BlackHole)
                    {
                        link.Silent = true;
                        continue;
                    }

                    await to.WriteAsync(header, _stop.Token);
                    await to.WriteAsync(payload.AsMemory(0, length / 2), _stop.Token);
                    await to.FlushAsync(_stop.Token);
                    link.Cut();
                    continue;
                }

                if (HoldRequestsUntilData && header[4] is (byte)MessageType.Request or (byte)MessageType.RequestEnd)
                    await link.DataPassed.Task.WaitAsync(_stop.Token);
                await to.WriteAsync(header, _stop.Token);
                await to.WriteAsync(payload.AsMemory(0, length), _stop.Token);
                if (header[4] == (byte)MessageType.Data)
                    link.DataPassed.TrySetResult();
            }
        }
        catch (Exception)
        {
            // End of stream, a closed peer, or the proxy stopping.
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
    }
}
