using System.Text;
using Microsoft.EntityFrameworkCore;
using RabbitMQ.Client;
using Teleport.Contracts;
using Teleport.Orchestrator.Persistence;

namespace Teleport.Orchestrator.Tests;

/// <summary>
/// Another system publishes a MigrationRequested as it did before whole-VM moves existed: MassTransit's JSON envelope,
/// written by hand, with no destinationHostId, on a real RabbitMQ. The orchestrator starts a storage-only move.
/// </summary>
public sealed class TodaysRequestJsonTests
{
    [Fact]
    public async Task A_request_in_todays_json_without_a_destination_host_starts_a_storage_only_move()
    {
        string rabbit = TestEnvironment.RabbitMq;
        await using var database = await TestDatabase.CreateAsync("sqlite");
        string run = Guid.NewGuid().ToString("N")[..8];
        var options = new OrchestratorOptions { Database = database.ConnectionString, QueueName = $"teleport-orchestrator-json-{run}" };
        await using var orchestrator = await ScaleOutTests.StartOrchestrator(options, rabbit, new ConflictCounter());

        var id = Guid.NewGuid();
        string destinationQueue = WorkerQueues.Storage($"dst-{run}");
        var factory = new ConnectionFactory { Uri = new Uri(rabbit) };
        await using var connection = await factory.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        await channel.BasicPublishAsync(
            "Teleport.Contracts:MigrationRequested", "", mandatory: true,
            new BasicProperties { ContentType = "application/vnd.masstransit+json", MessageId = Guid.NewGuid().ToString() },
            Encoding.UTF8.GetBytes(Envelope(id, run)));

        var row = await WaitForRow(database.ConnectionString, id);
        Assert.Equal(("Preparing", 1), (row.CurrentState, row.Attempt));
        Assert.Null(row.DestinationHostId);
        Assert.False(row.WholeVm);
        Assert.Equal((4096, true), (row.OptionBlockSize, row.OptionUseIndex));

        // The destination storage got its PrepareDestination, as for any storage-only move.
        string? prepare = null;
        var until = DateTime.UtcNow.AddSeconds(15);
        while (prepare is null && DateTime.UtcNow < until)
        {
            // The queue exists once the saga's send declared it (after the row was saved); asking before closes the channel.
            try
            {
                await using var reader = await connection.CreateChannelAsync();
                var got = await reader.BasicGetAsync(destinationQueue, autoAck: true);
                prepare = got is null ? null : Encoding.UTF8.GetString(got.Body.Span);
            }
            catch (RabbitMQ.Client.Exceptions.OperationInterruptedException)
            {
            }

            await Task.Delay(prepare is null ? 50 : 0);
        }

        Assert.NotNull(prepare);
        Assert.Contains("urn:message:Teleport.Contracts:PrepareDestination", prepare);
        Assert.Contains(id.ToString(), prepare);
        Assert.True(orchestrator.Faults.Length == 0, orchestrator.Faults);
    }

    // The envelope as MassTransit writes it (camelCase), the message as it was before DestinationHostId existed.
    private static string Envelope(Guid id, string run) => $$"""
        {
          "messageId": "{{Guid.NewGuid()}}",
          "conversationId": "{{Guid.NewGuid()}}",
          "messageType": ["urn:message:Teleport.Contracts:MigrationRequested"],
          "message": {
            "migrationId": "{{id}}",
            "vmId": "vm-{{run}}",
            "volumeId": "vol-{{run}}",
            "sourceStorageId": "src-{{run}}",
            "destinationStorageId": "dst-{{run}}",
            "hostId": "host-{{run}}",
            "options": { "blockSize": 4096, "useIndex": true },
            "requestedAt": "2026-11-24T21:59:00+00:00"
          },
          "sentTime": "2026-11-24T21:59:00Z",
          "headers": {}
        }
        """;

    private static async Task<MigrationState> WaitForRow(string connectionString, Guid id)
    {
        var reader = new OrchestratorDatabase(connectionString);
        var until = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < until)
        {
            await using var db = await reader.OpenAsync(CancellationToken.None);
            var row = await db.Migrations.AsNoTracking().SingleOrDefaultAsync(x => x.CorrelationId == id);
            if (row is not null)
            {
                return row;
            }

            await Task.Delay(50);
        }

        Assert.Fail($"no saga row for {id} appeared");
        return null!;
    }
}
