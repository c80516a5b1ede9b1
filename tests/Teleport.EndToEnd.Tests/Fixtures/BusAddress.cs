using MassTransit;

namespace Teleport.EndToEnd.Tests.Fixtures;

/// <summary>Points a RabbitMQ bus at the test broker (amqp://user:pass@HOST:PORT/).</summary>
public static class BusAddress
{
    public static void UseTestBroker(this IRabbitMqBusFactoryConfigurator cfg)
    {
        var uri = new Uri(TestEnvironment.RabbitMq);
        string[] user = uri.UserInfo.Split(':', 2);
        cfg.Host(uri.Host, (ushort)uri.Port, "/", h =>
        {
            h.Username(Uri.UnescapeDataString(user[0]));
            h.Password(user.Length > 1 ? Uri.UnescapeDataString(user[1]) : "");
        });
    }
}
