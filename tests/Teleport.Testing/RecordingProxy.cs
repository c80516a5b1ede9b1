using System.Net;
using System.Net.Sockets;

namespace Teleport.Testing;

/// <summary>
/// A loopback TCP proxy that records every byte of each connection in both directions, so a test can capture a real
/// session (qemu-io against our NBD server, a source against a destination) and use it as a fuzzing seed.
/// </summary>
public sealed class RecordingProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly IPEndPoint _upstream;
    private readonly List<Task> _connections = [];
    private readonly List<RecordedSession> _sessions = [];
    private readonly Task _accepting;

    private RecordingProxy(IPEndPoint upstream)
    {
        _upstream = upstream;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public IPEndPoint EndPoint => (IPEndPoint)_listener.LocalEndpoint;

    public static RecordingProxy Start(IPEndPoint upstream) => new(upstream);

    /// <summary>The connections that ended so far, in the order they ended.</summary>
    public IReadOnlyList<RecordedSession> Sessions
    {
        get
        {
            lock (_sessions)
                return [.. _sessions];
        }
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Stop();
        await _accepting;
        Task[] connections;
        lock (_connections)
            connections = [.. _connections];
        await Task.WhenAll(connections).WaitAsync(TimeSpan.FromSeconds(30));
    }

    private async Task AcceptAsync()
    {
        while (true)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptSocketAsync();
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                return;
            }

            lock (_connections)
                _connections.Add(RelayAsync(client));
        }
    }

    private async Task RelayAsync(Socket client)
    {
        using var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        using (client)
        {
            await server.ConnectAsync(_upstream);
            var fromClient = new MemoryStream();
            var fromServer = new MemoryStream();
            await Task.WhenAll(PumpAsync(client, server, fromClient), PumpAsync(server, client, fromServer));
            lock (_sessions)
                _sessions.Add(new RecordedSession(fromClient.ToArray(), fromServer.ToArray()));
        }
    }

    private static async Task PumpAsync(Socket from, Socket to, MemoryStream record)
    {
        byte[] buffer = new byte[64 * 1024];
        try
        {
            int n;
            while ((n = await from.ReceiveAsync(buffer)) > 0)
            {
                record.Write(buffer, 0, n);
                await to.SendAsync(buffer.AsMemory(0, n));
            }

            to.Shutdown(SocketShutdown.Send);
        }
        catch (SocketException)
        {
            // One side reset: the session ends with what was recorded.
            to.Close();
        }
    }
}

/// <summary>The bytes of one proxied connection, each direction in order.</summary>
public sealed record RecordedSession(byte[] FromClient, byte[] FromServer);
