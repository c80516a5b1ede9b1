using System.Net;
using Teleport.Storage.Migrations;

namespace Teleport.Storage.Security;

/// <summary>
/// The storage workers this one may send volumes to (Storage:Peers: storage id → "HOST" or "HOST:PORT" of its data
/// channel). A StartTransfer names the destination's storage id and data endpoint; the endpoint is used only when
/// its host (and port, when configured) is what the configuration says for that id. With no peers configured and no
/// mutual TLS (the single-machine default) the endpoint is taken from the message as before.
/// </summary>
public sealed class KnownPeers
{
    private readonly Dictionary<string, (string Host, int? Port)> _peers = new(StringComparer.Ordinal);

    /// <param name="peers">Storage id → HOST or HOST:PORT.</param>
    /// <param name="required">Refuse every storage id not in <paramref name="peers"/> (mutual TLS), even when it is empty.</param>
    public KnownPeers(IReadOnlyDictionary<string, string> peers, bool required)
    {
        foreach (var (id, address) in peers)
            _peers[id] = Parse(id, address);
        Required = required || _peers.Count > 0;
    }

    /// <summary>Whether only configured peers are sent to.</summary>
    public bool Required { get; }

    /// <summary>Where to connect for <paramref name="storageId"/>, whose destination announced <paramref name="announced"/> (HOST:PORT).</summary>
    public EndPoint Resolve(string storageId, string announced)
    {
        var endpoint = DataChannelAddress.ParseEndPoint(announced);
        if (!_peers.TryGetValue(storageId, out var peer))
        {
            return Required
                ? throw new ArgumentException($"storage '{storageId}' is not a known peer of this worker (Storage:Peers): volumes are sent only to configured peers")
                : endpoint;
        }

        var (host, port) = HostPort(endpoint);
        if (!SameHost(host, peer.Host) || (peer.Port is { } fixedPort && fixedPort != port))
            throw new ArgumentException($"data endpoint '{announced}' is not where storage '{storageId}' is configured to be ('{peer.Host}{(peer.Port is { } p ? $":{p}" : "")}', Storage:Peers)");
        // The configured host, not the message's spelling of it, is what we connect to.
        return IPAddress.TryParse(peer.Host, out var address) ? new IPEndPoint(address, port) : new DnsEndPoint(peer.Host, port);
    }

    /// <summary>Throws <see cref="ArgumentException"/> for a value that is neither HOST nor HOST:PORT.</summary>
    public static (string Host, int? Port) Parse(string id, string address)
    {
        string text = address.Trim();
        string bare = text.StartsWith('[') && text.EndsWith(']') ? text[1..^1] : text;
        if (IPAddress.TryParse(bare, out var ip))
            return (ip.ToString(), null);
        if (!text.Contains(':') && Uri.CheckHostName(text) != UriHostNameType.Unknown)
            return (text, null);
        try
        {
            var (host, port) = HostPort(DataChannelAddress.ParseEndPoint(text));
            return (host, port);
        }
        catch (ArgumentException)
        {
            throw new ArgumentException($"Storage:Peers:{id} '{address}' is not HOST or HOST:PORT");
        }
    }

    private static (string Host, int Port) HostPort(EndPoint endpoint) => endpoint switch
    {
        IPEndPoint ip => (ip.Address.ToString(), ip.Port),
        DnsEndPoint dns => (dns.Host, dns.Port),
        _ => throw new ArgumentException($"'{endpoint}' is not HOST:PORT"),
    };

    private static bool SameHost(string a, string b) =>
        IPAddress.TryParse(a, out var x) && IPAddress.TryParse(b, out var y) ? x.Equals(y) : string.Equals(a, b, StringComparison.OrdinalIgnoreCase);
}
