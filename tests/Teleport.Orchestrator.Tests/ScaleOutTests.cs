using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Teleport.Contracts;
using Teleport.Orchestrator.Persistence;
using Xunit.Abstractions;

namespace Teleport.Orchestrator.Tests;

/// <summary>
/// Two orchestrator instances on one real RabbitMQ queue and one real PostgreSQL database drive many migrations
/// at once while the test plays the workers (every event twice, a phase's events all at once): each migration
/// succeeds exactly once and its row is consistent.
/// </summary>
public sealed class ScaleOutTests(ITestOutputHelper output)
{
    public const string RabbitMqVariable = "TELEPORT_RABBITMQ";

    [Fact]
    public async Task Two_orchestrators_on_rabbitmq_and_postgres_never_double_drive_a_saga()
    {
        string? rabbit = Environment.GetEnvironmentVariable(RabbitMqVariable);
        if (string.IsNullOrWhiteSpace(rabbit))
        {
            throw new InvalidOperationException(
                $"{RabbitMqVariable} is not set: run the tests through infra/test.sh (its hook 10-rabbitmq.sh starts a private broker)");
        }

        await using var database = await TestDatabase.CreateAsync("postgres");
        string run = Guid.NewGuid().ToString("N")[..8];
        var (source, destination, hostId) = ($"src-{run}", $"dst-{run}", $"host-{run}");
        var options = new OrchestratorOptions
        {
            Database = database.ConnectionString,
            QueueName = $"teleport-orchestrator-test-{run}",
        };

        var worker = new WorkerDouble();
        var counter = new SuccessCounter(options.QueueName);
        var workers = Bus.Factory.CreateUsingRabbitMq(cfg =>
        {
            cfg.Host(new Uri(rabbit));
            foreach (string? queue in new[] { WorkerQueues.Storage(source), WorkerQueues.Storage(destination), WorkerQueues.Host(hostId) })
            {
                cfg.ReceiveEndpoint(queue, e =>
                {
                    // Declared as the orchestrator's sends declare them (durable): commands only, no event bindings.
                    e.ConfigureConsumeTopology = false;
                    e.Instance(worker);
                });
            }

            cfg.ReceiveEndpoint($"teleport-success-test-{run}", e =>
            {
                e.AutoDelete = true;
                e.Instance(counter);
            });
        });

        var conflicts = new ConflictCounter();
        await using var first = await StartOrchestrator(options, rabbit, conflicts);
        await using var second = await StartOrchestrator(options, rabbit, conflicts);
        await workers.StartAsync();
        try
        {
            var ids = Enumerable.Range(0, 12).Select(_ => Guid.NewGuid()).ToList();
            await Task.WhenAll(ids.SelectMany(id =>
            {
                var request = new MigrationRequested(id, $"vm-{id:N}"[..12], "vol", source, destination, hostId, new MigrationOptions(), DateTimeOffset.UtcNow);
                return new[] { workers.Publish(request), workers.Publish(request) };
            }));

            var reader = new OrchestratorDatabase(database.ConnectionString);
            var until = DateTime.UtcNow.AddSeconds(90);
            List<MigrationState> rows = [];
            while (DateTime.UtcNow < until)
            {
                await using var db = await reader.OpenAsync(CancellationToken.None);
                rows = await db.Migrations.AsNoTracking().Where(r => ids.Contains(r.CorrelationId)).ToListAsync();
                if (rows.Count == ids.Count && rows.All(r => r.CurrentState is "Succeeded" or "Failed") && ids.All(counter.Succeeded.ContainsKey))
                {
                    break;
                }

                await Task.Delay(100);
            }

            Assert.True(rows.Count == ids.Count, $"{rows.Count} of {ids.Count} sagas exist; faults: {first.Faults} {second.Faults}");
            foreach (var row in rows)
            {
                Assert.True(row.CurrentState == "Succeeded",
                    $"{row.CorrelationId}: {row.CurrentState} {row.Run.FailureReason}; faults: {first.Faults} {second.Faults}");
                Assert.Equal(3, row.Run.Rounds);
                Assert.Equal(204_800, row.Run.BytesOnWire);
                Assert.Equal(300, row.Run.DowntimeMilliseconds!.Value, precision: 3);
                Assert.True(row.Run.PauseRequested && row.Run.SwitchRequested && row.Run.SwitchConfirmed && row.Run.DestinationVerified);
            }

            // Late duplicates may still be in flight; give them a moment, then count what other systems saw.
            await Task.Delay(500);
            Assert.All(ids, id => Assert.Equal(1, counter.Succeeded.GetValueOrDefault(id)));
            Assert.True(first.Handled > 0 && second.Handled > 0, $"both instances must have worked: {first.Handled} and {second.Handled} messages");
            output.WriteLine($"instance 1 consumed {first.Handled}, instance 2 {second.Handled}; {conflicts.Conflicts} concurrency conflicts re-run");
        }
        finally
        {
            await workers.StopAsync();
        }
    }

    internal static async Task<OrchestratorInstance> StartOrchestrator(OrchestratorOptions options, string rabbit, ConflictCounter conflicts)
    {
        var services = new ServiceCollection();
        services.AddSingleton<ILoggerFactory>(NullLoggerFactory.Instance);
        services.AddSingleton(typeof(ILogger<>), typeof(NullLogger<>));
        services.AddTeleportOrchestrator(options);
        services.AddSingleton(_ => new OrchestratorDatabase(options.Database, b => b.AddInterceptors(conflicts)));
        // Bindings must exist before the test publishes, as in a host that waits for its bus.
        services.Configure<MassTransitHostOptions>(o => o.WaitUntilStarted = true);
        services.AddMassTransit(x =>
        {
            x.DisableUsageTelemetry();
            x.AddMigrationSaga();
            x.UsingRabbitMq((context, cfg) =>
            {
                cfg.Host(new Uri(rabbit));
                cfg.ConfigureEndpoints(context);
            });
        });
        var provider = services.BuildServiceProvider(true);
        var instance = new OrchestratorInstance(provider);
        await instance.StartAsync();
        return instance;
    }
}
