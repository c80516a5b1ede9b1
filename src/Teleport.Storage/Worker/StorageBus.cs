namespace Teleport.Storage.Worker;

/// <summary>The parsed Bus setting: the in-memory transport, or a RabbitMQ broker with its credentials.</summary>
public sealed record StorageBus(Uri? RabbitMq, string User, string Password, string VirtualHost)
{
    public bool InMemory => RabbitMq is null;

    public static StorageBus Parse(string text)
    {
        if (string.Equals(text, "memory", StringComparison.OrdinalIgnoreCase))
            return new StorageBus(null, "", "", "/");
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme is not ("rabbitmq" or "amqp") || uri.Host.Length == 0)
            throw new ArgumentException($"Storage:Bus '{text}' is neither 'memory' nor rabbitmq://user:pass@HOST:PORT/");
        var parts = uri.UserInfo.Split(':', 2);
        var (user, password) = parts is [var u, var p] && u.Length > 0
            ? (Uri.UnescapeDataString(u), Uri.UnescapeDataString(p))
            : ("guest", "guest");
        var vhost = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
        return new StorageBus(uri, user, password, vhost.Length == 0 ? "/" : vhost);
    }

    /// <summary>The broker without credentials, for logs.</summary>
    public override string ToString() => RabbitMq is null ? "memory" : $"rabbitmq://{RabbitMq.Host}:{RabbitMq.Port}/{VirtualHost.TrimStart('/')}";
}
