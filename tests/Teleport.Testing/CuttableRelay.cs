using System.Net;
using System.Net.Sockets;

namespace Teleport.Testing;

/// <summary>
/// A byte relay in front of a real server (TCP or Unix socket) that counts the connections it accepts and can be cut:
/// <see cref="Cut"/> drops every connection and turns new ones away until <see cref="Restore"/>. It stands for a link
/// or a server going away for one client only, without disturbing the others sharing that server.
/// </summary>
public sealed class CuttableRelay : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly EndPoint _upstream;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _lock = new();
    private readonly List<Socket> _open = [];
    private readonly Task _accepting;
    private int _accepted;
    private volatile bool _cut;

    private CuttableRelay(Socket listener, EndPoint upstream)
    {
        _listener = listener;
        _upstream = upstream;
        _accepting = AcceptAsync();
    }

    /// <summary>Where clients connect.</summary>
    public EndPoint EndPoint => _listener.LocalEndPoint!;

    /// <summary>Connections accepted so far (those turned away while cut included).</summary>
    public int Accepted => Volatile.Read(ref _accepted);

    /// <summary>Listens on <paramref name="listen"/> (port 0 / a socket path) and relays to <paramref name="upstream"/>.</summary>
    public static CuttableRelay Start(EndPoint listen, EndPoint upstream)
    {
        var listener = new Socket(listen.AddressFamily, SocketType.Stream, listen is UnixDomainSocketEndPoint ? ProtocolType.Unspecified : ProtocolType.Tcp);
        listener.Bind(listen);
        listener.Listen(64);
        return new CuttableRelay(listener, upstream);
    }

    /// <summary>Drops every relayed connection and turns new ones away.</summary>
    public void Cut()
    {
        _cut = true;
        Socket[] open;
        lock (_lock)
        {
            open = [.. _open];
            _open.Clear();
        }

        foreach (var socket in open)
            socket.Dispose();
    }

    public void Restore() => _cut = false;

    private async Task AcceptAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stopping.Token);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
            {
                return;
            }

            Interlocked.Increment(ref _accepted);
            if (_cut)
                client.Dispose();
            else
                _ = RelayAsync(client);
        }
    }

    private async Task RelayAsync(Socket client)
    {
        var server = new Socket(_upstream.AddressFamily, SocketType.Stream, _upstream is UnixDomainSocketEndPoint ? ProtocolType.Unspecified : ProtocolType.Tcp);
        lock (_lock)
        {
            _open.Add(client);
            _open.Add(server);
        }

        try
        {
            await server.ConnectAsync(_upstream, _stopping.Token);
            await Task.WhenAny(PumpAsync(client, server), PumpAsync(server, client));
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // Cut, stopped or refused: the connection just ends.
        }
        finally
        {
            client.Dispose();
            server.Dispose();
        }
    }

    private static async Task PumpAsync(Socket from, Socket to)
    {
        byte[] buffer = new byte[64 * 1024];
        try
        {
            int n;
            while ((n = await from.ReceiveAsync(buffer)) > 0)
                await to.SendAsync(buffer.AsMemory(0, n));
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // One side went away.
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        _listener.Dispose();
        await _accepting;
        Cut();
        _stopping.Dispose();
    }
}
