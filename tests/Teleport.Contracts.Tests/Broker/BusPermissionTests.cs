using RabbitMQ.Client;

namespace Teleport.Contracts.Tests.Broker;

/// <summary>
/// The per-role broker users of infra/rabbitmq/bus-users.sh on the real test broker: each may do what its role does
/// (the positive controls here, the end-to-end tests for whole migrations), and a rogue holding one role's
/// credentials cannot command another role: no SwitchTarget to a host from storage credentials, no StartTransfer to
/// a storage worker from host credentials, nothing to any worker from the operator's.
/// </summary>
public sealed class BusPermissionTests : IAsyncLifetime
{
    private readonly string _run = Guid.NewGuid().ToString("N")[..12];

    private string HostQueue => $"teleport-host-perm-{_run}";

    private string StorageQueue => $"teleport-storage-perm-{_run}";

    public async Task InitializeAsync()
    {
        // The workers' endpoints as MassTransit makes them (queue and exchange of one name), and the type exchanges.
        var (connection, channel) = await TestBus.OpenChannel();
        await using (connection)
        await using (channel)
        {
            foreach (string name in new[] { HostQueue, StorageQueue })
            {
                await channel.ExchangeDeclareAsync(name, ExchangeType.Fanout, durable: false, autoDelete: false);
                await channel.QueueDeclareAsync(name, durable: false, exclusive: false, autoDelete: false);
                await channel.QueueBindAsync(name, name, "");
            }
            foreach (string type in new[] { "SwitchTarget", "StartTransfer", "VolumeCreated", "TargetSwitched", "MigrationRequested", "DeleteVolume" })
                await channel.ExchangeDeclareAsync($"Teleport.Contracts:{type}", ExchangeType.Fanout, durable: true, autoDelete: false);
        }
    }

    public async Task DisposeAsync()
    {
        var (connection, channel) = await TestBus.OpenChannel();
        await using (connection)
        await using (channel)
        {
            foreach (string name in new[] { HostQueue, StorageQueue })
            {
                await channel.QueueDeleteAsync(name);
                await channel.ExchangeDeleteAsync(name);
            }
        }
    }

    /// <summary>Role, the exchange it publishes to (HOST and STORAGE: a host's and a storage worker's endpoint), allowed?</summary>
    public static TheoryData<string, string, bool> Publishes() => new()
    {
        // Storage: its own events and endpoints; no host command, no command or migration request at all.
        { "storage", "Teleport.Contracts:VolumeCreated", true },
        { "storage", "STORAGE", true },
        { "storage", "HOST", false },
        { "storage", "Teleport.Contracts:SwitchTarget", false },
        { "storage", "Teleport.Contracts:StartTransfer", false },
        { "storage", "Teleport.Contracts:DeleteVolume", false },
        { "storage", "Teleport.Contracts:MigrationRequested", false },
        // Host: its own events; no storage command, no forged storage event.
        { "host", "Teleport.Contracts:TargetSwitched", true },
        { "host", "STORAGE", false },
        { "host", "Teleport.Contracts:StartTransfer", false },
        { "host", "Teleport.Contracts:VolumeCreated", false },
        // Operator: migration requests only; no worker reached, no worker event forged.
        { "operator", "Teleport.Contracts:MigrationRequested", true },
        { "operator", "HOST", false },
        { "operator", "STORAGE", false },
        { "operator", "Teleport.Contracts:SwitchTarget", false },
        { "operator", "Teleport.Contracts:TargetSwitched", false },
        // Orchestrator: commands to the workers' queues; no worker event or migration request forged.
        { "orchestrator", "HOST", true },
        { "orchestrator", "STORAGE", true },
        { "orchestrator", "Teleport.Contracts:TargetSwitched", false },
        { "orchestrator", "Teleport.Contracts:VolumeCreated", false },
        { "orchestrator", "Teleport.Contracts:MigrationRequested", false },
    };

    [Theory]
    [MemberData(nameof(Publishes))]
    public async Task A_role_publishes_only_where_it_may(string role, string exchange, bool allowed)
    {
        await using var channel = await RoleChannel.OpenAsync(TestBroker.For(role));
        string target = exchange switch { "HOST" => HostQueue, "STORAGE" => StorageQueue, _ => exchange };

        Assert.Equal(allowed, await channel.TryPublishAsync(target));
    }

    [Theory]
    [InlineData("storage")]
    [InlineData("operator")]
    public async Task Another_role_can_neither_read_nor_declare_a_hosts_queue(string role)
    {
        await using var channel = await RoleChannel.OpenAsync(TestBroker.For(role));

        Assert.False(await channel.TryConsumeAsync(HostQueue), "a host's commands read");
        Assert.False(await channel.TryDeclareQueueAsync($"teleport-host-rogue-{_run}"), "a host queue declared");
    }

    [Fact]
    public async Task A_host_cannot_read_a_storage_workers_queue()
    {
        await using var host = await RoleChannel.OpenAsync(TestBroker.Host);

        Assert.False(await host.TryConsumeAsync(StorageQueue));
        Assert.True(await host.TryDeclareQueueAsync($"teleport-host-own-{_run}"), "a host declares host queues");
    }
}
