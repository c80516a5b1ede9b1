using MassTransit;

namespace Teleport.Messaging;

/// <summary>
/// A role's Bus setting: <c>memory</c> (the in-memory transport, inside one process only) or a RabbitMQ broker,
/// <c>rabbitmq://user:pass@HOST:PORT/VHOST</c> (<c>amqp://</c> works too; no user means guest), or over TLS
/// <c>amqps://user:pass@HOST:PORT/VHOST?ca=/path/ca-cert.pem</c>: the broker's certificate must name HOST and chain
/// to the CA file (without <c>ca</c>, to the system's trusted roots). For a cluster, <c>nodes=HOST2:PORT,HOST3:PORT</c>
/// names the other nodes the client fails over to, and <c>queues=quorum</c> declares the role's own queues as quorum
/// queues (replicated; the default, <c>classic</c>, is not). Parameters join with <c>&amp;</c>.
/// </summary>
public sealed record BusAddress(Uri? Broker, string User, string Password, string VirtualHost)
{
    private const string Usage = "memory, rabbitmq://user:pass@HOST:PORT/ or amqps://user:pass@HOST:PORT/?ca=FILE (with &nodes=HOST:PORT,... and &queues=quorum for a cluster)";

    public bool InMemory => Broker is null;

    /// <summary>amqps://: TLS with the broker's certificate verified.</summary>
    public bool Tls { get; private init; }

    /// <summary>The CA certificate file (PEM) the broker's certificate must chain to; null for the system roots.</summary>
    public string? CaFile { get; private init; }

    public ushort Port => (ushort)(Broker is { Port: > 0 } b ? b.Port : Tls ? 5671 : 5672);

    /// <summary>queues=quorum: the role's durable queues are quorum queues, replicated across the cluster's nodes.</summary>
    public bool QuorumQueues { get; private init; }

    /// <summary>Every node of the broker as HOST:PORT, the address's own first; one entry for a single broker.</summary>
    public IReadOnlyList<string> Nodes { get; private init; } = [];

    /// <summary>Parses the setting; <paramref name="setting"/> names it in the error (a flag or a configuration key).</summary>
    /// <exception cref="ArgumentException">Missing, or not one of the forms above (with a readable CA file for amqps).</exception>
    public static BusAddress Parse(string? text, string setting)
    {
        if (string.IsNullOrWhiteSpace(text))
            throw new ArgumentException($"{setting} is missing: give {Usage}");
        if (string.Equals(text, "memory", StringComparison.OrdinalIgnoreCase))
            return new BusAddress(null, "", "", "/");
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme is not ("rabbitmq" or "amqp" or "amqps") || uri.Host.Length == 0)
            throw new ArgumentException($"{setting} '{Redacted(text)}' is none of {Usage}");
        string[] parts = uri.UserInfo.Split(':', 2);
        var (user, password) = parts is [var u, var p] && u.Length > 0
            ? (Uri.UnescapeDataString(u), Uri.UnescapeDataString(p))
            : ("guest", "guest");
        string vhost = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
        bool tls = uri.Scheme == "amqps";
        var query = BusAddressQuery.Parse(uri.Query, tls, setting);
        var address = new BusAddress(uri, user, password, vhost.Length == 0 ? "/" : vhost)
        {
            Tls = tls,
            CaFile = query.CaFile,
            QuorumQueues = query.QuorumQueues,
        };
        return address with { Nodes = [$"{uri.Host}:{address.Port}", .. query.Nodes] };
    }

    private static string Redacted(string text) =>
        Uri.TryCreate(text, UriKind.Absolute, out var uri) && uri.UserInfo.Length > 0 ? text.Replace(uri.UserInfo, "***") : text;

    /// <summary>Points a RabbitMQ bus at this broker (over TLS for amqps://, verifying the broker's certificate).</summary>
    public void ConfigureHost(IRabbitMqBusFactoryConfigurator cfg) =>
        cfg.Host(Broker!.Host, Port, VirtualHost, h =>
        {
            h.Username(User);
            h.Password(Password);
            if (Tls)
                h.UseSsl(s => BrokerCertificate.Configure(s, Broker.IdnHost, CaFile));
            // The client connects to the first node that answers and, when its connection drops, to the next.
            if (Nodes.Count > 1)
                h.UseCluster(c =>
                {
                    foreach (string node in Nodes)
                        c.Node(node);
                });
        });

    /// <summary>The broker without credentials, for logs.</summary>
    public override string ToString() => Broker is null
        ? "memory"
        : $"{(Tls ? "amqps" : "rabbitmq")}://{string.Join(',', Nodes)}/{VirtualHost.TrimStart('/')}{(QuorumQueues ? " (quorum queues)" : "")}";
}
