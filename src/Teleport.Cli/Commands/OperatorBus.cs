using MassTransit;
using Teleport.Cli.Infrastructure;

namespace Teleport.Cli.Commands;

/// <summary>
/// The <c>--bus</c> setting of the orchestrator and the operator commands: <c>memory</c> or
/// <c>rabbitmq://user:pass@HOST:PORT/VHOST</c> (<c>amqp://</c> works too). Operator commands fall back to TELEPORT_BUS.
/// </summary>
public sealed record OperatorBus(Uri? Broker, string User, string Password, string VirtualHost)
{
    public const string EnvironmentVariable = "TELEPORT_BUS";

    public bool InMemory => Broker is null;

    public ushort Port => (ushort)(Broker is { Port: > 0 } b ? b.Port : 5672);

    /// <summary>Parses the setting; <paramref name="what"/> names it in the error (a flag or a configuration key).</summary>
    public static OperatorBus Parse(string? text, string what)
    {
        if (string.IsNullOrWhiteSpace(text))
            throw new UserInputException($"{what} is missing: give memory or rabbitmq://user:pass@HOST:PORT/");
        if (string.Equals(text, "memory", StringComparison.OrdinalIgnoreCase))
            return new OperatorBus(null, "", "", "/");
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme is not ("rabbitmq" or "amqp") || uri.Host.Length == 0)
            throw new UserInputException($"{what} '{text}' is neither 'memory' nor rabbitmq://user:pass@HOST:PORT/");
        var parts = uri.UserInfo.Split(':', 2);
        var (user, password) = parts is [var u, var p] && u.Length > 0
            ? (Uri.UnescapeDataString(u), Uri.UnescapeDataString(p))
            : ("guest", "guest");
        var vhost = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
        return new OperatorBus(uri, user, password, vhost.Length == 0 ? "/" : vhost);
    }

    /// <summary>
    /// The broker an operator command talks to: the flag, else TELEPORT_BUS. The in-memory bus exists only inside one
    /// process, so a separate command cannot reach an orchestrator through it.
    /// </summary>
    public static OperatorBus ForOperator(string? flag)
    {
        var text = flag ?? Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (string.IsNullOrWhiteSpace(text))
            throw new UserInputException($"--bus is missing (or set {EnvironmentVariable}): rabbitmq://user:pass@HOST:PORT/");
        var bus = Parse(text, "--bus");
        if (bus.InMemory)
            throw new UserInputException("--bus memory exists only inside one process: give the orchestrators' broker, rabbitmq://user:pass@HOST:PORT/");
        return bus;
    }

    /// <summary>Points a RabbitMQ bus at this broker.</summary>
    public void Configure(IRabbitMqBusFactoryConfigurator cfg) =>
        cfg.Host(Broker!.Host, Port, VirtualHost, h =>
        {
            h.Username(User);
            h.Password(Password);
        });

    /// <summary>The broker without credentials, for logs.</summary>
    public override string ToString() => Broker is null ? "memory" : $"rabbitmq://{Broker.Host}:{Port}/{VirtualHost.TrimStart('/')}";
}
