using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;

namespace Teleport.Host.Moves;

/// <summary>A <c>HOST:PORT</c> of the memory stream (IPv6 in brackets), parsed strictly: it ends up in a QEMU URI.</summary>
internal readonly partial record struct TcpAddress(string Host, int Port)
{
    public static bool TryParse(string? text, out TcpAddress address)
    {
        address = default;
        if (string.IsNullOrEmpty(text))
            return false;
        int colon = text.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port > 65535)
            return false;
        string host = text[..colon];
        if (!IsHostName(host))
            return false;
        address = new TcpAddress(host, port);
        return true;
    }

    /// <summary>A DNS name or an IP address (IPv6 in brackets): nothing QEMU would read as another URI part.</summary>
    public static bool IsHostName(string? host) =>
        host is not null && (HostName().IsMatch(host) ||
            (host.StartsWith('[') && host.EndsWith(']') && IPAddress.TryParse(host[1..^1], out var v6) && v6.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6));

    public static bool IsWildcard(string host) => host is "0.0.0.0" or "[::]";

    public override string ToString() => $"{Host}:{Port.ToString(CultureInfo.InvariantCulture)}";

    [GeneratedRegex("^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$")]
    private static partial Regex HostName();
}
