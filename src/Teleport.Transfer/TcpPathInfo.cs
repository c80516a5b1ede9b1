using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Teleport.Transfer;

/// <summary>
/// What the kernel knows about one TCP connection (Linux <c>TCP_INFO</c>): the path's round trip, and whether the
/// connection still has data to put on the link. The sender needs both when no rate limit tells it what the link is:
/// the round trip tells a WAN from a LAN, and data waiting in the kernel means the link was not idle while the sender
/// compressed (its socket buffer, megabytes on a long path, hides the link from the application's write calls).
/// </summary>
internal readonly record struct TcpPathInfo(TimeSpan RoundTrip, int CongestionWindow, int PacketsInFlight, long NotSentBytes)
{
    private const int IpProtoTcp = 6, TcpInfoOption = 11;

    // Offsets in struct tcp_info (include/uapi/linux/tcp.h, stable since Linux 4.6).
    private const int UnackedAt = 24, SackedAt = 28, LostAt = 32, RetransAt = 36, RttAt = 68, CwndAt = 80, NotSentAt = 144, MinLength = 148;

    /// <summary>True when TCP has more to send than the congestion window lets out, or unsent data queued: the link is busy without us.</summary>
    public bool LinkBusy => NotSentBytes > 0 || PacketsInFlight >= CongestionWindow;

    /// <summary>Reads the socket's TCP_INFO; false off Linux or on a socket that is not TCP.</summary>
    public static bool TryRead(Socket socket, out TcpPathInfo info)
    {
        info = default;
        if (!OperatingSystem.IsLinux())
            return false;
        Span<byte> raw = stackalloc byte[232];
        int length;
        try
        {
            length = socket.GetRawSocketOption(IpProtoTcp, TcpInfoOption, raw);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or PlatformNotSupportedException)
        {
            return false;
        }

        if (length < MinLength)
            return false;
        long inFlight = (long)U32(raw, UnackedAt) - U32(raw, SackedAt) - U32(raw, LostAt) + U32(raw, RetransAt);
        info = new TcpPathInfo(TimeSpan.FromMicroseconds(U32(raw, RttAt)), (int)Math.Min(U32(raw, CwndAt), int.MaxValue),
            (int)Math.Clamp(inFlight, 0, int.MaxValue), U32(raw, NotSentAt));
        return true;
    }

    // The kernel fills the struct in the machine's own byte order.
    private static uint U32(ReadOnlySpan<byte> raw, int at) => MemoryMarshal.Read<uint>(raw[at..]);
}
