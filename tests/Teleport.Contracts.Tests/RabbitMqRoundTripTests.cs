using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Teleport.Contracts.Tests;

/// <summary>Contracts through MassTransit on the real RabbitMQ that infra/test.sh starts (TELEPORT_RABBITMQ).</summary>
public sealed class RabbitMqRoundTripTests
{
    private static readonly TimeSpan Delivery = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Published_migration_requested_arrives_with_every_field()
    {
        await using var bus = await TestBus.Start([typeof(MigrationRequested)], $"unused-{Guid.NewGuid():N}", []);
        var requested = new MigrationRequested(
            Guid.NewGuid(),
            "vm-önë \"quoted\"",
            "vol-42",
            "storage-ams-1",
            "storage-fra-2",
            "host-17",
            new MigrationOptions(BlockSize: 16_384, BandwidthBytesPerSecond: 12_500_000_000, DirtyThresholdBlocks: (1L << 55) + 3,
                MaxCopyRounds: 12, CompressionLevel: 19, UseIndex: false),
            new DateTimeOffset(2026, 11, 24, 23, 59, 58, TimeSpan.FromHours(5.5)).AddTicks(1_234_567));

        await bus.Bus.Publish(requested);
        var (received, envelope) = await bus.Received.WaitFor<MigrationRequested>(m => m.MigrationId == requested.MigrationId, Delivery);

        ContractComparer.AssertSame(requested, received);
        Assert.Equal("vm-önë \"quoted\"", received.VmId);
        Assert.Equal((1L << 55) + 3, received.Options.DirtyThresholdBlocks);
        Assert.False(received.Options.UseIndex);
        Assert.Equal(TimeSpan.FromHours(5.5), received.RequestedAt.Offset);
        Assert.Equal("application/vnd.masstransit+json", envelope.ContentType);
        Assert.NotNull(envelope.MessageId);

        // It travelled through this bus's own exchange, not the shared Teleport.Contracts:MigrationRequested.
        string exchange = bus.ExchangeFor(typeof(MigrationRequested));
        Assert.StartsWith(bus.Prefix, exchange, StringComparison.Ordinal);
        var (connection, channel) = await TestBus.OpenChannel();
        await using (connection)
        await using (channel)
        {
            await channel.ExchangeDeclarePassiveAsync(exchange);
        }
    }

    [Fact]
    public async Task Every_contract_published_arrives_intact()
    {
        var messages = ContractTypes.Messages;
        await using var bus = await TestBus.Start(messages, $"unused-{Guid.NewGuid():N}", []);
        var samples = new ContractSamples(seed: 7);
        var sent = messages.Select(samples.Create).ToList();

        foreach (object? message in sent)
        {
            await bus.Bus.Publish(message, message.GetType());
        }

        foreach (object? message in sent)
        {
            var (received, _) = await bus.Received.WaitFor<object>(m => m.GetType() == message.GetType(), Delivery);
            ContractComparer.AssertSame(message, received);
        }

        // Each event was published once to one subscriber: exactly one copy each, nothing else.
        Assert.Equal(sent.Count, bus.Received.Snapshot().Count);
    }

    [Fact]
    public async Task Command_sent_to_a_storage_worker_queue_is_consumed_there()
    {
        string storageId = $"dst-{Guid.NewGuid():N}";
        // The event endpoint also consumes PrepareDestination: a command must still reach only the worker's queue.
        await using var bus = await TestBus.Start([typeof(PrepareDestination)], storageId, [typeof(PrepareDestination)]);
        string queue = WorkerQueues.Storage(storageId);
        var command = new PrepareDestination(
            Guid.NewGuid(),
            "vol-9",
            "storage-src",
            storageId,
            new MigrationOptions(BlockSize: 4_096, MaxCopyRounds: 5));

        var endpoint = await bus.Bus.GetSendEndpoint(new Uri($"queue:{queue}"));
        await endpoint.Send(command);
        var (received, envelope) = await bus.Received.WaitFor<PrepareDestination>(m => m.MigrationId == command.MigrationId, Delivery);

        ContractComparer.AssertSame(command, received);
        Assert.NotNull(envelope.DestinationAddress);
        Assert.EndsWith("/" + queue, envelope.DestinationAddress!.AbsolutePath, StringComparison.Ordinal);

        // The queue really is named after the worker on the broker, and nothing is left in it.
        var (connection, channel) = await TestBus.OpenChannel();
        await using (connection)
        await using (channel)
        {
            var declared = await channel.QueueDeclarePassiveAsync(queue);
            Assert.Equal(queue, declared.QueueName);
        }

        await Task.Delay(TimeSpan.FromMilliseconds(500));
        Assert.Single(bus.Received.Snapshot());
    }

    [Fact]
    public async Task A_body_that_is_not_a_message_lands_intact_in_the_error_queue()
    {
        // What `teleport replay` works from: a message a worker cannot read is kept, not lost.
        string storageId = $"bad-{Guid.NewGuid():N}";
        await using var bus = await TestBus.Start([], storageId, [typeof(PrepareDestination)]);
        string queue = WorkerQueues.Storage(storageId);
        byte[] body = "{\"message\": {\"migrationId\": "u8.ToArray();

        var (connection, channel) = await TestBus.OpenChannel();
        await using (connection)
        await using (channel)
        {
            var properties = new BasicProperties { ContentType = "application/vnd.masstransit+json", MessageId = Guid.NewGuid().ToString() };
            await channel.BasicPublishAsync(string.Empty, queue, mandatory: true, properties, body);

            var faulted = await TakeOne(connection, queue + "_error", Delivery);

            Assert.Equal(body, faulted.Body.ToArray());
            Assert.Equal(properties.MessageId, faulted.BasicProperties.MessageId);
            Assert.Contains(faulted.BasicProperties.Headers!.Keys, k => k.StartsWith("MT-Fault", StringComparison.Ordinal));
        }

        Assert.Empty(bus.Received.Snapshot());
    }

    [Fact]
    public async Task Disposing_the_test_bus_deletes_its_queues()
    {
        string storageId = $"gone-{Guid.NewGuid():N}";
        var bus = await TestBus.Start([typeof(MigrationRequested)], storageId, [typeof(PrepareDestination)]);
        await bus.DisposeAsync();

        var (connection, channel) = await TestBus.OpenChannel();
        await using (connection)
        await using (channel)
        {
            var missing = await Assert.ThrowsAsync<OperationInterruptedException>(() => channel.QueueDeclarePassiveAsync(WorkerQueues.Storage(storageId)));
            Assert.Equal((ushort?)404, missing.ShutdownReason?.ReplyCode);
        }
    }

    /// <summary>Takes the first message of a queue that MassTransit may not have declared yet.</summary>
    private static async Task<BasicGetResult> TakeOne(IConnection connection, string queue, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            // A get on a missing queue closes the channel (404): each attempt uses its own.
            await using (var channel = await connection.CreateChannelAsync())
            {
                try
                {
                    if (await channel.BasicGetAsync(queue, autoAck: true) is { } result)
                    {
                        return result;
                    }
                }
                catch (OperationInterruptedException missing) when (missing.ShutdownReason?.ReplyCode == 404)
                {
                }
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Nothing arrived in {queue} within {timeout.TotalSeconds:0}s.");
            }

            await Task.Delay(100);
        }
    }
}
