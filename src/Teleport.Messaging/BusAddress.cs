using MassTransit;

namespace Teleport.Messaging;

/// <summary>
/// A role's Bus setting: <c>memory</c> (the in-memory transport, inside one process only) or a RabbitMQ broker,
/// <c>rabbitmq://user:pass@HOST:PORT/VHOST</c> (<c>amqp://</c> works too; no user means guest), or over TLS
/// <c>amqps://user:pass@HOST:PORT/VHOST?ca=/path/ca-cert.pem</c>: the broker's certificate must name HOST and chain
/// to the CA file (without <c>ca</c>, to the system's trusted roots).
/// </summary>
public sealed record BusAddress(Uri? Broker, string User, string Password, string VirtualHost)
{
    private const string Usage = "memory, rabbitmq://user:pass@HOST:PORT/ or amqps://user:pass@HOST:PORT/?ca=FILE";

    public bool InMemory => Broker is null;

    /// <summary>amqps://: TLS with the broker's certificate verified.</summary>
    public bool Tls { get; private init; }

    /// <summary>The CA certificate file (PEM) the broker's certificate must chain to; null for the system roots.</summary>
    public string? CaFile { get; private init; }

    public ushort Port => (ushort)(Broker is { Port: > 0 } b ? b.Port : Tls ? 5671 : 5672);

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
        return new BusAddress(uri, user, password, vhost.Length == 0 ? "/" : vhost)
        {
            Tls = tls,
            CaFile = CaFileOf(uri, tls, setting),
        };
    }

    // The one query parameter: ca=FILE, for amqps only; anything else is a mistake worth naming.
    private static string? CaFileOf(Uri uri, bool tls, string setting)
    {
        string query = uri.Query.TrimStart('?');
        if (query.Length == 0)
            return null;
        string[] pair = query.Split('=', 2);
        if (pair is not ["ca", { Length: > 0 } value] || !tls)
            throw new ArgumentException($"{setting}: the only parameter is ca=FILE, and only with amqps:// (got '?{query}')");
        string file = Uri.UnescapeDataString(value);
        if (!Path.IsPathFullyQualified(file) || !File.Exists(file))
            throw new ArgumentException($"{setting}: the CA file '{file}' is not an absolute path to an existing file");
        _ = BrokerCertificate.LoadCa(file);
        return file;
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
        });

    /// <summary>The broker without credentials, for logs.</summary>
    public override string ToString() => Broker is null ? "memory" : $"{(Tls ? "amqps" : "rabbitmq")}://{Broker.Host}:{Port}/{VirtualHost.TrimStart('/')}";
}
