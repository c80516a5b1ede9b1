using System.Security.Authentication;
using MassTransit;
using Teleport.Messaging;

namespace Teleport.Contracts.Tests.Broker;

/// <summary>
/// amqps:// against the test broker's TLS listener (infra/test.d/10-rabbitmq.sh made its CA and certificate): a bus
/// verifying against that CA works end to end; one trusting another CA, or the system roots, never connects.
/// </summary>
public sealed class BusTlsTests
{
    private static readonly TimeSpan Start = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task A_bus_over_amqps_with_the_brokers_CA_delivers_a_message()
    {
        var address = BusAddress.Parse(TestBroker.Tls, "TELEPORT_RABBITMQ_TLS");
        Assert.True(address.Tls);
        string queue = $"teleport-tls-test-{Guid.NewGuid():N}";
        var received = new TaskCompletionSource<CancelMigration>(TaskCreationOptions.RunContinuationsAsynchronously);
        var bus = Bus.Factory.CreateUsingRabbitMq(cfg =>
        {
            address.ConfigureHost(cfg);
            cfg.ReceiveEndpoint(queue, e =>
            {
                e.AutoDelete = true;
                e.Durable = false;
                e.ConfigureConsumeTopology = false;
                e.Handler<CancelMigration>(c => Task.FromResult(received.TrySetResult(c.Message)));
            });
        });
        using (var starting = new CancellationTokenSource(Start))
            await bus.StartAsync(starting.Token);
        try
        {
            var sent = new CancelMigration(Guid.NewGuid(), "over TLS");
            // The address says what the endpoint declared (transient), or the broker refuses the redeclaration.
            var endpoint = await bus.GetSendEndpoint(new Uri($"queue:{queue}?durable=false&autodelete=true"));
            using var sending = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await endpoint.Send(sent, sending.Token);

            Assert.Equal(sent, await received.Task.WaitAsync(TimeSpan.FromSeconds(30)));
        }
        finally
        {
            await StopAsync(bus);
        }
    }

    [Fact]
    public async Task A_broker_certificate_from_another_CA_is_refused()
    {
        string address = TestBroker.Tls.Split('?')[0] + "?ca=" + Uri.EscapeDataString(TestBroker.OtherCa);

        var error = await StartFails(address);

        Assert.Contains(Chain(error), e => e is AuthenticationException);
    }

    [Fact]
    public async Task Without_a_CA_file_the_private_CA_is_not_trusted()
    {
        var error = await StartFails(TestBroker.Tls.Split('?')[0]);

        Assert.Contains(Chain(error), e => e is AuthenticationException);
    }

    [Theory]
    [InlineData("amqp://u:secret@127.0.0.1:5672/?ca=/etc/hostname", "only with amqps")]
    [InlineData("amqps://u:secret@127.0.0.1:5671/?ca=relative.pem", "absolute path")]
    [InlineData("amqps://u:secret@127.0.0.1:5671/?ca=/nonexistent/ca.pem", "absolute path")]
    [InlineData("amqps://u:secret@127.0.0.1:5671/?verify=false", "unknown parameter 'verify'")]
    [InlineData("amqps://u:secret@127.0.0.1:5671/?ca=/etc/hostname", "holds no PEM certificate")]
    public void A_bad_TLS_setting_is_refused_by_name_without_the_password(string text, string reason)
    {
        var error = Assert.ThrowsAny<ArgumentException>(() =>
        {
            var address = BusAddress.Parse(text, "Host:Bus");
            Bus.Factory.CreateUsingRabbitMq(address.ConfigureHost);
        });

        Assert.Contains(reason, error.Message);
        Assert.DoesNotContain("secret", error.Message);
    }

    [Fact]
    public void Amqps_defaults_to_port_5671_and_logs_without_credentials()
    {
        var address = BusAddress.Parse("amqps://teleport-host:s3cret@mq.example/prod", "Host:Bus");

        Assert.Equal(5671, address.Port);
        Assert.Null(address.CaFile);
        Assert.Equal("amqps://mq.example:5671/prod", address.ToString());
    }

    private static async Task<Exception> StartFails(string address)
    {
        var bus = Bus.Factory.CreateUsingRabbitMq(cfg => BusAddress.Parse(address, "test").ConfigureHost(cfg));
        using var starting = new CancellationTokenSource(Start);
        var error = await Record.ExceptionAsync(() => bus.StartAsync(starting.Token));
        await StopAsync(bus);
        Assert.NotNull(error);
        return error;
    }

    private static async Task StopAsync(IBusControl bus)
    {
        using var stopping = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        await bus.StopAsync(stopping.Token);
    }

    private static IEnumerable<Exception> Chain(Exception e)
    {
        for (var x = e; x is not null; x = x.InnerException)
        {
            yield return x;
            if (x is AggregateException a)
                foreach (var inner in a.InnerExceptions.SelectMany(Chain))
                    yield return inner;
        }
    }
}
