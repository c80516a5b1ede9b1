using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Teleport.Transfer.Protocol;

namespace Teleport.Transfer.Tests;

/// <summary>
/// Test-only TCP proxy between source and destination that understands the frame header: on the first connection it
/// cuts both sides when the <see cref="CutAtOccurrence"/>-th frame of <see cref="CutType"/> passes (forwarding only half
/// of that frame, so the receiver sees a truncated frame). Later connections pass through untouched.
/// </summary>
public sealed class FrameCuttingProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly IPEndPoint _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private int _connections;
    private int _seen;

    internal FrameCuttingProxy(IPEndPoint target, MessageType cutType, int cutAtOccurrence)
    {
        _target = target;
        CutType = cutType;
        CutAtOccurrence = cutAtOccurrence;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    internal MessageType CutType { get; }

    public int CutAtOccurrence { get; }

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

        using var cut = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        var a = PumpAsync(client.GetStream(), upstream.GetStream(), cutting, cut);
        var b = PumpAsync(upstream.GetStream(), client.GetStream(), cutting, cut);
        await Task.WhenAny(a, b);
        await cut.CancelAsync();
        client.Close();
        upstream.Close();
        await Task.WhenAll(a, b);
    }

    private async Task PumpAsync(NetworkStream from, NetworkStream to, bool cutting, CancellationTokenSource cut)
    {
        var header = new byte[ProtocolConstants.HeaderSize];
        var payload = new byte[ProtocolConstants.MaxPayload];
        try
        {
            while (true)
            {
                await from.ReadExactlyAsync(header, cut.Token);
                int length = (int)BinaryPrimitives.ReadUInt32LittleEndian(header);
                await from.ReadExactlyAsync(payload.AsMemory(0, length), cut.Token);
                if (cutting && header[4] == (byte)CutType && Interlocked.Increment(ref _seen) == CutAtOccurrence)
                {
                    HasCut = true;
                    await to.WriteAsync(header, cut.Token);
                    await to.WriteAsync(payload.AsMemory(0, length / 2), cut.Token);
                    await to.FlushAsync(cut.Token);
                    return;
                }

                await to.WriteAsync(header, cut.Token);
                await to.WriteAsync(payload.AsMemory(0, length), cut.Token);
            }
        }
        catch (Exception)
        {
            // Either side closed or we were told to stop.
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
    }
}
