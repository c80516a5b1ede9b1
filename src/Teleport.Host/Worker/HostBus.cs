namespace Teleport.Host.Worker;

/// <summary>The parsed Host:Bus setting: the in-memory transport, or a RabbitMQ broker with its credentials.</summary>
public sealed record HostBus(Uri? RabbitMq, string User, string Password, string VirtualHost)
{
    public bool InMemory => RabbitMq is null;

    /// <exception cref="ArgumentException">Neither "memory" nor a rabbitmq:// / amqp:// address.</exception>
    public static HostBus Parse(string text)
    {
        if (string.Equals(text, "memory", StringComparison.OrdinalIgnoreCase))
            return new HostBus(null, "", "", "/");
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme is not ("rabbitmq" or "amqp") || uri.Host.Length == 0)
            throw new ArgumentException($"Host:Bus '{text}' is neither 'memory' nor rabbitmq://user:pass@HOST:PORT/");
        var parts = uri.UserInfo.Split(':', 2);
        var (user, password) = parts is [var u, var p] && u.Length > 0
            ? (Uri.UnescapeDataString(u), Uri.UnescapeDataString(p))
            : ("guest", "guest");
        var vhost = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
        return new HostBus(uri, user, password, vhost.Length == 0 ? "/" : vhost);
    }

    /// <summary>The broker without credentials, for logs.</summary>
    public override string ToString() => RabbitMq is null ? "memory" : $"rabbitmq://{RabbitMq.Host}:{RabbitMq.Port}/{VirtualHost.TrimStart('/')}";
}
