namespace Teleport.Host.Tests.Support;

/// <summary>The RabbitMQ broker infra/test.sh starts (TELEPORT_RABBITMQ); its absence fails the test, never skips it.</summary>
internal static class TestBroker
{
    public const string Variable = "TELEPORT_RABBITMQ";

    public static string Address
    {
        get
        {
            string? value = Environment.GetEnvironmentVariable(Variable);
            if (string.IsNullOrWhiteSpace(value))
            {
                throw new InvalidOperationException(
                    $"{Variable} is not set. The host worker bus tests need a real RabbitMQ: run them through " +
                    $"infra/test.sh tests/Teleport.Host.Tests (its hook 10-rabbitmq.sh starts a private broker and exports {Variable}).");
            }

            return value;
        }
    }
}
