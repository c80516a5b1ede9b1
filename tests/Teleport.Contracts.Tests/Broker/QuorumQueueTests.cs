using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;
using Teleport.Messaging;

namespace Teleport.Contracts.Tests.Broker;

/// <summary>
/// The bus address's cluster parameters: nodes= lists the nodes a client fails over to, queues=quorum makes a role's
/// receive endpoints quorum queues (checked on the real broker, which refuses to redeclare one as classic).
/// </summary>
public sealed class QuorumQueueTests
{
    [Fact]
    public void Nodes_and_queue_type_parse_with_the_address_first()
    {
        var address = BusAddress.Parse("rabbitmq://u:p@10.0.0.1:5672/prod?nodes=10.0.0.2:5673,mq3.example:5674&queues=quorum", "Host:Bus");

        Assert.Equal(["10.0.0.1:5672", "10.0.0.2:5673", "mq3.example:5674"], address.Nodes);
        Assert.True(address.QuorumQueues);
        Assert.Equal("prod", address.VirtualHost);
        Assert.Equal("rabbitmq://10.0.0.1:5672,10.0.0.2:5673,mq3.example:5674/prod (quorum queues)", address.ToString());
    }

    [Fact]
    public void Without_parameters_a_single_node_with_classic_queues()
    {
        var address = BusAddress.Parse("amqp://127.0.0.1/", "Storage:Bus");

        Assert.Equal(["127.0.0.1:5672"], address.Nodes);
        Assert.False(address.QuorumQueues);
        Assert.False(BusAddress.Parse("amqp://127.0.0.1/?queues=classic", "Storage:Bus").QuorumQueues);
    }

    [Theory]
    [InlineData("amqp://u:secret@127.0.0.1/?queues=mirrored", "neither classic nor quorum")]
    [InlineData("amqp://u:secret@127.0.0.1/?nodes=10.0.0.2", "is not HOST:PORT")]
    [InlineData("amqp://u:secret@127.0.0.1/?nodes=10.0.0.2:0", "is not HOST:PORT")]
    [InlineData("amqp://u:secret@127.0.0.1/?nodes=bad host:5672", "is not HOST:PORT")]
    [InlineData("amqp://u:secret@127.0.0.1/?queues=quorum&queues=classic", "given twice")]
    [InlineData("amqp://u:secret@127.0.0.1/?nodes=", "without a value")]
    [InlineData("amqp://u:secret@127.0.0.1/?queue=quorum", "unknown parameter 'queue'")]
    public void A_bad_cluster_setting_is_refused_by_name_without_the_password(string text, string reason)
    {
        var error = Assert.Throws<ArgumentException>(() => BusAddress.Parse(text, "Orchestrator:Bus"));

        Assert.Contains(reason, error.Message);
        Assert.Contains("Orchestrator:Bus", error.Message);
        Assert.DoesNotContain("secret", error.Message);
    }

    [Fact]
    public async Task With_queues_quorum_a_roles_endpoint_is_a_quorum_queue_that_delivers()
    {
        string queue = $"teleport-quorum-test-{Guid.NewGuid():N}";
        var received = new TaskCompletionSource<CancelMigration>(TaskCreationOptions.RunContinuationsAsynchronously);
        var services = new ServiceCollection().AddTeleportBus(BusAddress.Parse($"{TestBroker.Address}?queues=quorum", "test"), null,
            (_, cfg) => cfg.ReceiveEndpoint(queue, e =>
            {
                e.ConfigureConsumeTopology = false;
                e.Handler<CancelMigration>(c => Task.FromResult(received.TrySetResult(c.Message)));
            }));
        await using var provider = services.BuildServiceProvider();
        var bus = provider.GetRequiredService<IBusControl>();
        using (var starting = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
            await bus.StartAsync(starting.Token);
        try
        {
            var sent = new CancelMigration(Guid.NewGuid(), "on a quorum queue");
            // As a role sends to a quorum queue: to its exchange (a queue: address would redeclare it as classic).
            await (await bus.GetSendEndpoint(provider.GetRequiredService<CommandAddresses>().For(queue))).Send(sent);
            Assert.Equal(sent, await received.Task.WaitAsync(TimeSpan.FromSeconds(30)));
        }
        finally
        {
            await bus.StopAsync(CancellationToken.None);
        }

        await using var connection = await new ConnectionFactory { Uri = TestBroker.Uri }.CreateConnectionAsync();
        Assert.Equal(406, await RedeclareAsync(connection, queue, "classic"));
        Assert.Equal(0, await RedeclareAsync(connection, queue, "quorum"));
        await using var cleanup = await connection.CreateChannelAsync();
        await cleanup.QueueDeleteAsync(queue);
        await cleanup.QueueDeleteAsync($"{queue}_error");
        await cleanup.ExchangeDeleteAsync(queue);
    }

    // 0 when the broker accepts the declaration as equivalent; its reply code (406 PRECONDITION_FAILED) when not.
    private static async Task<int> RedeclareAsync(IConnection connection, string queue, string type)
    {
        await using var channel = await connection.CreateChannelAsync();
        try
        {
            await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false,
                new Dictionary<string, object?> { ["x-queue-type"] = type });
            return 0;
        }
        catch (OperationInterruptedException e)
        {
            return e.ShutdownReason?.ReplyCode ?? -1;
        }
    }
}
