using System.Net.Sockets;

namespace Teleport.Host.Tests.Support;

/// <summary>A Unix socket standing in for QEMU's QMP socket: accepts one connection and serves it as the subclass says.</summary>
internal abstract class QmpSocketServer : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private Task _serve = Task.CompletedTask;

    protected QmpSocketServer(string path)
    {
        Path = path;
        _listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        _listener.Bind(new UnixDomainSocketEndPoint(path));
        _listener.Listen(1);
    }

    public string Path { get; }

    /// <summary>Call last in the subclass's constructor.</summary>
    protected void Start() => _serve = AcceptAsync();

    protected abstract Task ServeAsync(Socket client, CancellationToken stop);

    private async Task AcceptAsync()
    {
        try
        {
            using var client = await _listener.AcceptAsync(_stop.Token);
            await ServeAsync(client, _stop.Token);
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException or IOException)
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
