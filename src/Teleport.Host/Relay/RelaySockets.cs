using System.Net;
using System.Net.Sockets;

namespace Teleport.Host.Relay;

/// <summary>The listening sockets both ends of the relay use (a Unix socket for QEMU, TCP for the WAN).</summary>
internal static class RelaySockets
{
    /// <summary>A socket bound and listening on <paramref name="endPoint"/> (closed again if either fails).</summary>
    public static Socket Listen(EndPoint endPoint, Action<EndPoint>? afterBind = null)
    {
        var listener = endPoint is UnixDomainSocketEndPoint
            ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
            : new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            // A fixed port must be free again for the next VM even while the last one's connections sit in TIME_WAIT.
            if (endPoint is not UnixDomainSocketEndPoint)
                listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            listener.Bind(endPoint);
            afterBind?.Invoke(endPoint);
            listener.Listen(16);
            return listener;
        }
        catch
        {
            listener.Dispose();
            throw;
        }
    }

    /// <summary>Hands each accepted connection to <paramref name="handle"/> (awaited before the next) until the listener closes.</summary>
    public static async Task AcceptEachAsync(Socket listener, Func<Socket, Task> handle, CancellationToken cancellationToken)
    {
        while (true)
        {
            Socket accepted;
            try
            {
                accepted = await listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
            {
                return;
            }

            await handle(accepted).ConfigureAwait(false);
        }
    }
}
