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

    [Fact]
    public async Task Storage_credentials_cannot_command_a_host_or_publish_commands()
    {
        await using var storage = await RoleChannel.OpenAsync(TestBroker.Storage);

        Assert.True(await storage.TryPublishAsync("Teleport.Contracts:VolumeCreated"), "storage publishes its own events");
        Assert.True(await storage.TryPublishAsync(StorageQueue), "storage writes to storage endpoints (its own bindings)");
        Assert.False(await storage.TryPublishAsync(HostQueue), "SwitchTarget straight to a host's queue");
        Assert.False(await storage.TryPublishAsync("Teleport.Contracts:SwitchTarget"), "SwitchTarget published");
        Assert.False(await storage.TryPublishAsync("Teleport.Contracts:StartTransfer"), "StartTransfer published");
        Assert.False(await storage.TryPublishAsync("Teleport.Contracts:DeleteVolume"), "DeleteVolume published");
        Assert.False(await storage.TryPublishAsync("Teleport.Contracts:MigrationRequested"), "a migration requested");
        Assert.False(await storage.TryDeclareQueueAsync($"teleport-host-rogue-{_run}"), "a host queue declared");
        Assert.False(await storage.TryConsumeAsync(HostQueue), "a host's commands read");
    }

    [Fact]
    public async Task Host_credentials_cannot_command_a_storage_worker()
    {
        await using var host = await RoleChannel.OpenAsync(TestBroker.Host);

        Assert.True(await host.TryPublishAsync("Teleport.Contracts:TargetSwitched"), "a host publishes its own events");
        Assert.False(await host.TryPublishAsync(StorageQueue), "StartTransfer straight to a storage worker's queue");
        Assert.False(await host.TryPublishAsync("Teleport.Contracts:StartTransfer"), "StartTransfer published");
        Assert.False(await host.TryPublishAsync("Teleport.Contracts:VolumeCreated"), "a storage event forged");
        Assert.False(await host.TryConsumeAsync(StorageQueue), "a storage worker's commands read");
    }

    [Fact]
    public async Task Operator_credentials_reach_only_the_orchestrators()
    {
        await using var op = await RoleChannel.OpenAsync(TestBroker.Operator);

        Assert.True(await op.TryPublishAsync("Teleport.Contracts:MigrationRequested"), "the operator requests migrations");
        Assert.False(await op.TryPublishAsync(HostQueue), "a host commanded");
        Assert.False(await op.TryPublishAsync(StorageQueue), "a storage worker commanded");
        Assert.False(await op.TryPublishAsync("Teleport.Contracts:SwitchTarget"), "SwitchTarget published");
        Assert.False(await op.TryPublishAsync("Teleport.Contracts:TargetSwitched"), "a host event forged");
        Assert.False(await op.TryConsumeAsync(HostQueue), "a host's commands read");
    }

    [Fact]
    public async Task Orchestrator_credentials_command_workers_but_forge_no_worker_event()
    {
        await using var orchestrator = await RoleChannel.OpenAsync(TestBroker.Orchestrator);

        Assert.True(await orchestrator.TryPublishAsync(HostQueue), "the orchestrator commands hosts");
        Assert.True(await orchestrator.TryPublishAsync(StorageQueue), "the orchestrator commands storage workers");
        Assert.False(await orchestrator.TryPublishAsync("Teleport.Contracts:TargetSwitched"), "a host event forged");
        Assert.False(await orchestrator.TryPublishAsync("Teleport.Contracts:VolumeCreated"), "a storage event forged");
        Assert.False(await orchestrator.TryPublishAsync("Teleport.Contracts:MigrationRequested"), "a migration requested");
    }
}
