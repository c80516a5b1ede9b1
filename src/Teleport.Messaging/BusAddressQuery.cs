namespace Teleport.Messaging;

/// <summary>
/// The parameters of a bus address: <c>ca=FILE</c> (amqps only), <c>nodes=HOST:PORT,...</c> (the cluster's other
/// nodes) and <c>queues=classic|quorum</c>. An unknown or repeated parameter is a mistake worth naming.
/// </summary>
internal sealed record BusAddressQuery(string? CaFile, bool QuorumQueues, IReadOnlyList<string> Nodes)
{
    private static readonly string[] Known = ["ca", "queues", "nodes"];

    public static BusAddressQuery Parse(string query, bool tls, string setting)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string parameter in query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] pair = parameter.Split('=', 2);
            if (!Known.Contains(pair[0]))
                throw new ArgumentException($"{setting}: unknown parameter '{pair[0]}'; the parameters are ca=FILE (amqps only), nodes=HOST:PORT,... and queues=classic|quorum");
            if (pair.Length < 2 || pair[1].Length == 0 || !values.TryAdd(pair[0], Uri.UnescapeDataString(pair[1])))
                throw new ArgumentException($"{setting}: parameter '{pair[0]}' is given twice or without a value");
        }

        return new BusAddressQuery(
            values.TryGetValue("ca", out string? ca) ? CheckedCaFile(ca, tls, setting) : null,
            Quorum(values.GetValueOrDefault("queues"), setting),
            NodesOf(values.GetValueOrDefault("nodes"), setting));
    }

    private static string CheckedCaFile(string file, bool tls, string setting)
    {
        if (!tls)
            throw new ArgumentException($"{setting}: ca=FILE works only with amqps://");
        if (!Path.IsPathFullyQualified(file) || !File.Exists(file))
            throw new ArgumentException($"{setting}: the CA file '{file}' is not an absolute path to an existing file");
        _ = BrokerCertificate.LoadCa(file);
        return file;
    }

    private static bool Quorum(string? queues, string setting) => queues switch
    {
        null or "classic" => false,
        "quorum" => true,
        _ => throw new ArgumentException($"{setting}: queues='{queues}' is neither classic nor quorum"),
    };

    private static IReadOnlyList<string> NodesOf(string? nodes, string setting)
    {
        if (nodes is null)
            return [];
        string[] list = nodes.Split(',', StringSplitOptions.TrimEntries);
        foreach (string node in list)
        {
            int colon = node.LastIndexOf(':');
            if (colon <= 0 || Uri.CheckHostName(node[..colon]) == UriHostNameType.Unknown ||
                !ushort.TryParse(node[(colon + 1)..], out ushort port) || port == 0)
                throw new ArgumentException($"{setting}: node '{node}' in nodes= is not HOST:PORT");
        }

        return list;
    }
}
