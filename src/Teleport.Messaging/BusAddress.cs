using MassTransit;

namespace Teleport.Messaging;

/// <summary>
/// A role's Bus setting: <c>memory</c> (the in-memory transport, inside one process only) or a RabbitMQ broker,
/// <c>rabbitmq://user:pass@HOST:PORT/VHOST</c> (<c>amqp://</c> works too; no user means guest).
/// </summary>
public sealed record BusAddress(Uri? Broker, string User, string Password, string VirtualHost)
{
    public bool InMemory => Broker is null;

    public ushort Port => (ushort)(Broker is { Port: > 0 } b ? b.Port : 5672);

    /// <summary>Parses the setting; <paramref name="setting"/> names it in the error (a flag or a configuration key).</summary>
    /// <exception cref="ArgumentException">Missing, or neither memory nor a rabbitmq:// / amqp:// address.</exception>
    public static BusAddress Parse(string? text, string setting)
    {
        if (string.IsNullOrWhiteSpace(text))
            throw new ArgumentException($"{setting} is missing: give memory or rabbitmq://user:pass@HOST:PORT/");
        if (string.Equals(text, "memory", StringComparison.OrdinalIgnoreCase))
            return new BusAddress(null, "", "", "/");
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme is not ("rabbitmq" or "amqp") || uri.Host.Length == 0)
            throw new ArgumentException($"{setting} '{text}' is neither 'memory' nor rabbitmq://user:pass@HOST:PORT/");
        string[] parts = uri.UserInfo.Split(':', 2);
        var (user, password) = parts is [var u, var p] && u.Length > 0
            ? (Uri.UnescapeDataString(u), Uri.UnescapeDataString(p))
            : ("guest", "guest");
        string vhost = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
        return new BusAddress(uri, user, password, vhost.Length == 0 ? "/" : vhost);
    }

    /// <summary>Points a RabbitMQ bus at this broker.</summary>
    public void ConfigureHost(IRabbitMqBusFactoryConfigurator cfg) =>
        cfg.Host(Broker!.Host, Port, VirtualHost, h =>
        {
            h.Username(User);
            h.Password(Password);
        });

    /// <summary>The broker without credentials, for logs.</summary>
    public override string ToString() => Broker is null ? "memory" : $"rabbitmq://{Broker.Host}:{Port}/{VirtualHost.TrimStart('/')}";
}
