using System.Net;
using System.Net.Sockets;

namespace Teleport.Testing;

/// <summary>
/// A loopback TCP forwarder a test can cut (listener and every connection closed: the server looks gone to its
/// clients) and restore on the same port, so a client's reconnection can be watched without stopping a shared server.
/// </summary>
public sealed class CuttableProxy : IAsyncDisposable
{
    private readonly IPEndPoint _upstream;
    private readonly List<Socket> _open = [];
    private TcpListener _listener;
    private Task _accepting = Task.CompletedTask;

    public CuttableProxy(IPEndPoint upstream)
    {
        _upstream = upstream;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        Port = Listen();
    }

    public int Port { get; }

    /// <summary>Closes the listener and every forwarded connection.</summary>
    public async Task CutAsync()
    {
        _listener.Stop();
        await _accepting;
        lock (_open)
        {
            foreach (var socket in _open)
                socket.Dispose();
            _open.Clear();
        }
    }

    /// <summary>Listens again on the same port.</summary>
    public void Restore()
    {
        _listener = new TcpListener(IPAddress.Loopback, Port);
        Listen();
    }

    public async ValueTask DisposeAsync() => await CutAsync();

    private int Listen()
    {
        _listener.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        _listener.Start();
        _accepting = AcceptAsync(_listener);
        return ((IPEndPoint)_listener.LocalEndpoint).Port;
    }

    private async Task AcceptAsync(TcpListener listener)
    {
        while (true)
        {
            Socket client;
            try
            {
                client = await listener.AcceptSocketAsync();
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                return;
            }

            var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            lock (_open)
            {
                _open.Add(client);
                _open.Add(server);
            }

            _ = Task.Run(async () =>
            {
                try
                {
                    await server.ConnectAsync(_upstream);
                    await Task.WhenAny(Pump(client, server), Pump(server, client));
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException)
                {
                }
                finally
                {
                    client.Dispose();
                    server.Dispose();
                }
            });
        }
    }

    private static async Task Pump(Socket from, Socket to)
    {
        byte[] buffer = new byte[64 * 1024];
        try
        {
            int read;
            while ((read = await from.ReceiveAsync(buffer, SocketFlags.None)) > 0)
                await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
    }
}
