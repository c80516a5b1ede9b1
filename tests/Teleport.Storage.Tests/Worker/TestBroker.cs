namespace Teleport.Storage.Tests.Worker;

/// <summary>The RabbitMQ broker infra/test.sh starts (TELEPORT_RABBITMQ); its absence fails the test, never skips it.</summary>
public static class TestBroker
{
    public const string Variable = "TELEPORT_RABBITMQ";

    public static string Address
    {
        get
        {
            var value = Environment.GetEnvironmentVariable(Variable);
            if (string.IsNullOrWhiteSpace(value))
                throw new InvalidOperationException(
                    $"{Variable} is not set. The storage worker bus tests need a real RabbitMQ: run them through " +
                    $"infra/test.sh tests/Teleport.Storage.Tests (it starts a private broker and exports {Variable}=amqp://guest:guest@127.0.0.1:PORT/).");
            return value;
        }
    }
}
