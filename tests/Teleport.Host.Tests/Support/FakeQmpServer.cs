using System.Net.Sockets;

namespace Teleport.Host.Tests.Support;

/// <summary>A Unix socket that accepts one connection and sends fixed bytes (or nothing): a broken "QEMU".</summary>
internal sealed class FakeQmpServer : QmpSocketServer
{
    private readonly byte[] _send;
    private readonly bool _hangUp;

    public FakeQmpServer(string path, byte[] send, bool hangUp = false)
        : base(path)
    {
        (_send, _hangUp) = (send, hangUp);
        Start();
    }

    protected override async Task ServeAsync(Socket client, CancellationToken stop)
    {
        if (_send.Length > 0)
        {
            await client.SendAsync(_send, SocketFlags.None);
        }

        if (_hangUp)
        {
            return;
        }

        // Hold the connection open, reading and ignoring whatever the client says.
        byte[] buffer = new byte[4096];
        while (await client.ReceiveAsync(buffer, SocketFlags.None, stop) > 0)
        {
        }
    }
}
