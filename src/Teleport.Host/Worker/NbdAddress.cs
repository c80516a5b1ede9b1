using System.Net;
using System.Net.Sockets;

namespace Teleport.Host.Worker;

/// <summary>
/// An NBD endpoint as configured or carried by SwitchTarget: <c>unix:/path</c>, <c>ADDR:PORT</c>, <c>[v6]:PORT</c>
/// or <c>HOST:PORT</c> (resolved when used, so a storage server's address may change).
/// </summary>
public sealed record NbdAddress(string Text, string? UnixPath, string? Host, int Port)
{
    public static bool TryParse(string? text, out NbdAddress address)
    {
        address = null!;
        if (string.IsNullOrWhiteSpace(text))
            return false;
        if (text.StartsWith("unix:", StringComparison.Ordinal))
        {
            string path = text["unix:".Length..];
            if (path.Length == 0 || !Path.IsPathRooted(path))
                return false;
            address = new NbdAddress(text, path, null, 0);
            return true;
        }

        int colon = text.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(text.AsSpan(colon + 1), System.Globalization.NumberStyles.None, null, out int port) || port is < 1 or > 65535)
            return false;
        string host = text[..colon];
        bool bracketed = host.Length > 2 && host.StartsWith('[') && host.EndsWith(']');
        if (bracketed)
            host = host[1..^1];
        // An IPv6 address must be bracketed, or its last group would read as the port.
        if (host.Length == 0 || host.Contains(' ') || host.Contains(':') != bracketed || (bracketed && !IPAddress.TryParse(host, out _)))
            return false;
        address = new NbdAddress(text, null, host, port);
        return true;
    }

    /// <exception cref="ArgumentException">Not <c>unix:/path</c> or <c>HOST:PORT</c>.</exception>
    public static NbdAddress Parse(string? text, string setting) =>
        TryParse(text, out var address)
            ? address
            : throw new ArgumentException($"{setting} '{text}' is neither unix:/absolute/path nor HOST:PORT");

    /// <summary>The socket address; a host name is looked up now.</summary>
    /// <exception cref="SocketException">The host name does not resolve.</exception>
    public async Task<EndPoint> ResolveAsync(CancellationToken cancellationToken)
    {
        if (UnixPath is not null)
            return new UnixDomainSocketEndPoint(UnixPath);
        if (IPAddress.TryParse(Host, out var ip))
            return new IPEndPoint(ip, Port);
        var addresses = await Dns.GetHostAddressesAsync(Host!, cancellationToken).ConfigureAwait(false);
        var chosen = addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork)
            ?? addresses.FirstOrDefault()
            ?? throw new SocketException((int)SocketError.HostNotFound);
        return new IPEndPoint(chosen, Port);
    }

    public override string ToString() => Text;
}
