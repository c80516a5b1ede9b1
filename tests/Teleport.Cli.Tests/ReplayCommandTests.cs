using System.Collections.Concurrent;
using System.Text.Json;
using MassTransit;
using Teleport.Contracts;

namespace Teleport.Cli.Tests;

/// <summary>
/// `teleport replay` with real faulted messages in a real _error queue: a consumer that throws makes MassTransit move
/// them there with its fault headers; replay moves them back to the queue they failed on, losing none.
/// </summary>
public sealed class ReplayCommandTests
{
    [Fact]
    public async Task Moves_faulted_messages_back_to_their_queue_after_a_dry_run_one_by_id_then_all()
    {
        string queue = $"teleport-replay-test-{Guid.NewGuid():N}"[..32];
        var ids = new[] { Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid() };
        string[] messageIds = await Fault(queue, ids);
        Assert.Equal(3u, await OrchestratorTestBed.MessagesIn(queue + "_error"));
        string rabbit = OrchestratorTestBed.Rabbit;

        var dry = await OrchestratorTestBed.Cli("replay", "--queue", queue, "--all", "--dry-run", "--json", "--bus", rabbit);
        var listed = dry.Json();
        Assert.True(listed.GetProperty("dryRun").GetBoolean());
        Assert.Equal(3, listed.GetProperty("count").GetInt32());
        Assert.All(listed.GetProperty("messages").EnumerateArray(), m =>
        {
            Assert.Equal("CancelMigration", m.GetProperty("messageType").GetString());
            Assert.Equal(queue, m.GetProperty("to").GetString());
            Assert.Contains("the replay test makes this fail", m.GetProperty("faultMessage").GetString());
            Assert.False(m.GetProperty("moved").GetBoolean());
        });
        Assert.Equal(3u, await OrchestratorTestBed.MessagesIn(queue + "_error"));
        Assert.Equal(0u, await OrchestratorTestBed.MessagesIn(queue));

        var one = await OrchestratorTestBed.Cli("replay", "--queue", queue, "--message-id", messageIds[1], "--bus", rabbit);
        Assert.True(one.ExitCode == 0, one.Stderr);
        Assert.Contains(messageIds[1], one.Stdout);
        Assert.Contains("moved 1 message(s)", one.Stderr);
        Assert.Equal(2u, await OrchestratorTestBed.MessagesIn(queue + "_error"));
        Assert.Equal(1u, await OrchestratorTestBed.MessagesIn(queue));

        var rest = await OrchestratorTestBed.Cli("replay", "--queue", queue + "_error", "--all", "--bus", rabbit);
        Assert.True(rest.ExitCode == 0, rest.Stderr);
        Assert.Equal(0u, await OrchestratorTestBed.MessagesIn(queue + "_error"));

        // The queue's consumer, now fixed, gets every message exactly once, intact and without the old fault headers.
        var received = await Drain(queue, 3);
        Assert.Equal(ids.Order(), received.Keys.Order());
        Assert.All(received.Values, r => Assert.Null(r));
        Assert.Equal(0u, await OrchestratorTestBed.MessagesIn(queue + "_error"));

        var nothing = await OrchestratorTestBed.Cli("replay", "--queue", queue, "--all", "--bus", rabbit);
        Assert.Equal(0, nothing.ExitCode);
        Assert.Contains($"nothing to replay in {queue}_error", nothing.Stderr);
    }

    [Fact]
    public async Task Bad_queue_unknown_message_and_malformed_flags_are_exit_2_and_move_nothing()
    {
        string queue = $"teleport-replay-bad-{Guid.NewGuid():N}"[..32];
        await Fault(queue, [Guid.NewGuid()]);
        string rabbit = OrchestratorTestBed.Rabbit;

        foreach (var (args, message) in new (string[], string)[]
                 {
                     (["replay", "--queue", "no-such-queue-" + Guid.NewGuid().ToString("N"), "--all", "--bus", rabbit], "there is no queue no-such-queue-"),
                     (["replay", "--queue", queue, "--message-id", "nope", "--bus", rabbit], $"no message nope in {queue}_error (1 other message(s) left there)"),
                     (["replay", "--queue", queue, "--bus", rabbit], "give either --all or --message-id ID"),
                     (["replay", "--queue", queue, "--all", "--message-id", "x", "--bus", rabbit], "give either --all or --message-id ID"),
                     (["replay", "--all", "--bus", rabbit], "--queue is required"),
                     (["replay", "--queue", "a b", "--all", "--bus", rabbit], "is not a queue name"),
                     (["replay", "--queue", queue, "--all", "--bus", "memory"], "--bus memory exists only inside one process"),
                 })
        {
            var run = await OrchestratorTestBed.Cli(args);
            Assert.True(run.ExitCode == 2, $"{string.Join(' ', args)}: exit {run.ExitCode} {run.Stderr}");
            Assert.Contains(message, run.Stderr);
            Assert.Single(run.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        }

        Assert.Equal(1u, await OrchestratorTestBed.MessagesIn(queue + "_error"));
        Assert.Equal(0u, await OrchestratorTestBed.MessagesIn(queue));
    }

    // Sends CancelMigration commands to a queue whose consumer always throws (no retry): MassTransit moves each to
    // QUEUE_error with its fault headers. Returns their MessageIds.
    private static async Task<string[]> Fault(string queue, Guid[] ids)
    {
        var faulted = new ConcurrentBag<Guid>();
        var bus = Bus.Factory.CreateUsingRabbitMq(cfg =>
        {
            cfg.Host(new Uri(OrchestratorTestBed.Rabbit));
            cfg.ReceiveEndpoint(queue, e =>
            {
                e.ConfigureConsumeTopology = false;
                e.Handler<CancelMigration>(context =>
                {
                    faulted.Add(context.Message.MigrationId);
                    throw new InvalidOperationException("the replay test makes this fail");
                });
            });
        });
        await bus.StartAsync();
        var messageIds = new List<string>();
        try
        {
            var endpoint = await bus.GetSendEndpoint(new Uri($"queue:{queue}"));
            foreach (var id in ids)
            {
                var messageId = NewId.NextGuid();
                await endpoint.Send(new CancelMigration(id, "replay me"), c => c.MessageId = messageId);
                messageIds.Add(messageId.ToString());
            }

            var until = DateTime.UtcNow.AddSeconds(30);
            while ((await OrchestratorTestBed.MessagesIn(queue + "_error") ?? 0) < ids.Length && DateTime.UtcNow < until)
                await Task.Delay(100);
        }
        finally
        {
            await bus.StopAsync();
        }

        return [.. messageIds];
    }

    // Consumes the queue with a working consumer; returns each MigrationId with its MT-Fault-Message header (null: none).
    private static async Task<ConcurrentDictionary<Guid, string?>> Drain(string queue, int expected)
    {
        var received = new ConcurrentDictionary<Guid, string?>();
        var bus = Bus.Factory.CreateUsingRabbitMq(cfg =>
        {
            cfg.Host(new Uri(OrchestratorTestBed.Rabbit));
            cfg.ReceiveEndpoint(queue, e =>
            {
                e.ConfigureConsumeTopology = false;
                e.Handler<CancelMigration>(context =>
                {
                    Assert.Equal("replay me", context.Message.Reason);
                    if (!received.TryAdd(context.Message.MigrationId, context.Headers.Get<string>("MT-Fault-Message")))
                        throw new InvalidOperationException($"{context.Message.MigrationId} arrived twice");
                    return Task.CompletedTask;
                });
            });
        });
        await bus.StartAsync();
        try
        {
            var until = DateTime.UtcNow.AddSeconds(30);
            while (received.Count < expected && DateTime.UtcNow < until)
                await Task.Delay(50);
            await Task.Delay(300);
        }
        finally
        {
            await bus.StopAsync();
        }

        return received;
    }
}
