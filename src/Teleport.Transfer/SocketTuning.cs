using System.Net.Sockets;

namespace Teleport.Transfer;

/// <summary>Socket options for data-channel connections.</summary>
internal static class SocketTuning
{
    /// <summary>No Nagle delay for small control frames; keepalive probes after 30 s idle so a vanished peer is noticed.</summary>
    public static void Apply(Socket socket)
    {
        socket.NoDelay = true;
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
        try
        {
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, 30);
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval, 10);
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount, 3);
        }
        catch (SocketException)
        {
            // Platform without per-socket keepalive timing: the system defaults apply.
        }
    }
}
