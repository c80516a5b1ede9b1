namespace Teleport.Contracts.Tests;

/// <summary>The RabbitMQ broker the tests talk to: the private one infra/test.sh starts and names in TELEPORT_RABBITMQ.</summary>
public static class TestBroker
{
    public const string Variable = "TELEPORT_RABBITMQ";

    /// <summary>The broker's amqp:// address; throws (never skips) when the test environment did not provide one.</summary>
    public static Uri Address
    {
        get
        {
            var value = Environment.GetEnvironmentVariable(Variable);
            if (string.IsNullOrWhiteSpace(value))
            {
                throw new InvalidOperationException(
                    $"{Variable} is not set. These tests need a real RabbitMQ: run them through infra/test.sh, which starts a " +
                    $"private broker on 127.0.0.1 and exports {Variable}=amqp://guest:guest@127.0.0.1:PORT/, or export it yourself.");
            }

            if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || (uri.Scheme != "amqp" && uri.Scheme != "amqps"))
            {
                throw new InvalidOperationException($"{Variable}='{value}' is not an amqp:// or amqps:// address.");
            }

            return uri;
        }
    }
}
