using MassTransit;
using Teleport.Messaging;

namespace Teleport.Testing;

/// <summary>The RabbitMQ broker infra/test.sh starts and names in TELEPORT_RABBITMQ; its absence fails the test, never skips it.</summary>
public static class TestBroker
{
    public const string Variable = "TELEPORT_RABBITMQ";

    /// <summary>The broker's address, amqp://user:pass@HOST:PORT/, as a worker's Bus setting takes it.</summary>
    public static string Address => TestEnvironment.Require(Variable, "10-rabbitmq.sh (a private RabbitMQ)", file: false);

    /// <summary>The same address as a <see cref="System.Uri"/>, for a RabbitMQ client's connection factory.</summary>
    public static Uri Uri => new(Address);

    /// <summary>Points a RabbitMQ bus at the test broker.</summary>
    public static void UseTestBroker(this IRabbitMqBusFactoryConfigurator cfg) => BusAddress.Parse(Address, Variable).ConfigureHost(cfg);
}
