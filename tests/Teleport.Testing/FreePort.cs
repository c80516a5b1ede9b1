using System.Net;
using System.Net.Sockets;

namespace Teleport.Testing;

/// <summary>A loopback TCP port free right now (workers are given fixed ports so their addresses are known up front).</summary>
public static class FreePort
{
    public static int Next()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }
}
