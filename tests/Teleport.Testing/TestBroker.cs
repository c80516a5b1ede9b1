using MassTransit;
using Teleport.Messaging;

namespace Teleport.Testing;

/// <summary>The RabbitMQ broker infra/test.sh starts and names in TELEPORT_RABBITMQ; its absence fails the test, never skips it.</summary>
public static class TestBroker
{
    public const string Variable = "TELEPORT_RABBITMQ";

    private const string Hook = "10-rabbitmq.sh (a private RabbitMQ)";

    /// <summary>The broker's address, amqp://user:pass@HOST:PORT/, as a worker's Bus setting takes it.</summary>
    public static string Address => TestEnvironment.Require(Variable, Hook, file: false);

    /// <summary>The same address as a <see cref="System.Uri"/>, for a RabbitMQ client's connection factory.</summary>
    public static Uri Uri => new(Address);

    /// <summary>The broker as the role's own user (orchestrator, storage, host or operator), with only its permissions.</summary>
    public static string For(string role) => TestEnvironment.Require($"{Variable}_{role.ToUpperInvariant()}", Hook, file: false);

    public static string Orchestrator => For("orchestrator");

    public static string Storage => For("storage");

    public static string Host => For("host");

    public static string Operator => For("operator");

    /// <summary>The broker's TLS listener, amqps://guest:guest@127.0.0.1:PORT/?ca=FILE (the CA that signed it).</summary>
    public static string Tls => TestEnvironment.Require($"{Variable}_TLS", Hook, file: false);

    /// <summary>A CA certificate (PEM) that signed nothing the broker presents.</summary>
    public static string OtherCa => TestEnvironment.Require($"{Variable}_OTHER_CA", Hook);

    /// <summary>Points a RabbitMQ bus at the test broker (as guest, or as <paramref name="address"/> says).</summary>
    public static void UseTestBroker(this IRabbitMqBusFactoryConfigurator cfg, string? address = null) =>
        BusAddress.Parse(address ?? Address, Variable).ConfigureHost(cfg);
}
