using System.Net.Sockets;

namespace Teleport.Host.Tests.Support;

/// <summary>A Unix socket that accepts one connection and sends fixed bytes (or nothing): a broken "QEMU".</summary>
internal sealed class FakeQmpServer : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly Task _serve;
    private readonly CancellationTokenSource _stop = new();

    public FakeQmpServer(string path, byte[] send, bool hangUp = false)
    {
        Path = path;
        _listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        _listener.Bind(new UnixDomainSocketEndPoint(path));
        _listener.Listen(1);
        _serve = ServeAsync(send, hangUp);
    }

    public string Path { get; }

    private async Task ServeAsync(byte[] send, bool hangUp)
    {
        try
        {
            using var client = await _listener.AcceptAsync(_stop.Token);
            if (send.Length > 0)
            {
                await client.SendAsync(send, SocketFlags.None);
            }

            if (hangUp)
            {
                return;
            }

            // Hold the connection open, reading and ignoring whatever the client says.
            byte[] buffer = new byte[4096];
            while (await client.ReceiveAsync(buffer, SocketFlags.None, _stop.Token) > 0)
            {
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Dispose();
        await _serve;
        File.Delete(Path);
        _stop.Dispose();
    }
}
