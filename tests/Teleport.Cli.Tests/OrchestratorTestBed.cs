using System.Text.Json;
using MassTransit;
using Npgsql;
using RabbitMQ.Client;
using Teleport.Contracts;

namespace Teleport.Cli.Tests;

/// <summary>
/// A real `teleport orchestrator` (run in-process on its own queue) against the RabbitMQ and the SQLite file or
/// PostgreSQL database of infra/test.sh, with the test playing the workers. Operator commands run against it.
/// </summary>
internal sealed class OrchestratorTestBed : IAsyncDisposable
{

    private readonly CancellationTokenSource _stop = new();
    private readonly string _configFile;
    private readonly string? _sqliteFile;
    private readonly string? _postgresName;
    private IBusControl? _workers;
    private Task<int>? _orchestrator;

    private OrchestratorTestBed(string database, string? sqliteFile, string? postgresName)
    {
        Database = database;
        _sqliteFile = sqliteFile;
        _postgresName = postgresName;
        _configFile = Path.Combine(Path.GetTempPath(), $"teleport-orch-cli-{Run}.json");
    }

    public static string Rabbit => TestBroker.Address;

    public string Run { get; } = Guid.NewGuid().ToString("N")[..8];

    public string Source => $"src-{Run}";

    public string Destination => $"dst-{Run}";

    public string Host => $"host-{Run}";

    public string Queue => $"teleport-orchestrator-cli-{Run}";

    /// <summary>What --db takes.</summary>
    public string Database { get; }

    /// <summary>What the orchestrator printed (logs on its stderr).</summary>
    public SyncStringWriter OrchestratorErr { get; } = new();

    /// <param name="provider">"sqlite" or "postgres".</param>
    /// <param name="prepareTimeout">The saga's PrepareTimeout (default one minute).</param>
    /// <param name="http">Settings for the orchestrator only: its Bus (default the test broker) and HttpListen (default none).</param>
    public static async Task<OrchestratorTestBed> StartAsync(string provider, TimeSpan? prepareTimeout = null, (string? Bus, string? HttpListen) http = default)
    {
        OrchestratorTestBed bed;
        if (provider == "sqlite")
        {
            string file = Path.Combine(Path.GetTempPath(), $"teleport-orch-cli-{Guid.NewGuid():N}.db");
            bed = new OrchestratorTestBed(file, file, null);
        }
        else
        {
            string server = TestEnvironment.Postgres;
            string name = $"teleport_cli_{Guid.NewGuid():N}";
            await using (var connection = new NpgsqlConnection(server))
            {
                await connection.OpenAsync();
                await using var create = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
                await create.ExecuteNonQueryAsync();
            }

            bed = new OrchestratorTestBed(new NpgsqlConnectionStringBuilder(server) { Database = name }.ConnectionString, null, name);
        }

        await bed.StartAsync(prepareTimeout ?? TimeSpan.FromSeconds(60), http.Bus ?? Rabbit, http.HttpListen);
        return bed;
    }

    private async Task StartAsync(TimeSpan prepareTimeout, string bus, string? httpListen)
    {
        var config = new
        {
            Orchestrator = new
            {
                Database, Bus = bus, QueueName = Queue, HttpListen = httpListen,
                Settings = new { PrepareTimeout = prepareTimeout.ToString("c"), SweepInterval = "00:00:00.500" },
            },
        };
        await File.WriteAllTextAsync(_configFile, JsonSerializer.Serialize(config));

        var worker = new OrchestratorWorkerDouble(Queue);
        _workers = Bus.Factory.CreateUsingRabbitMq(cfg =>
        {
            cfg.Host(new Uri(Rabbit));
            foreach (string? queue in new[] { WorkerQueues.Storage(Source), WorkerQueues.Storage(Destination), WorkerQueues.Host(Host) })
            {
                cfg.ReceiveEndpoint(queue, e =>
                {
                    // Declared as the orchestrator's sends declare them (durable): commands only, no event bindings.
                    e.ConfigureConsumeTopology = false;
                    e.Instance(worker);
                });
            }
        });
        await _workers.StartAsync();

        _orchestrator = Task.Run(() => TeleportApp.Run(["orchestrator", "--config", _configFile], new SyncStringWriter(), OrchestratorErr, false, _stop.Token));
        // Ready when its saga queue has a consumer (the bus is up and bound) or it has ended (a failed start).
        var until = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < until && !_orchestrator.IsCompleted && await ConsumersOf(Queue) == 0)
            await Task.Delay(100);
        if (_orchestrator.IsCompleted || await ConsumersOf(Queue) == 0)
            throw new InvalidOperationException($"teleport orchestrator did not start: {OrchestratorErr}");
    }

    /// <summary>Consumers on a queue (0 when it does not exist).</summary>
    public static async Task<uint> ConsumersOf(string queue) => (await Declared(queue))?.ConsumerCount ?? 0;

    /// <summary>Ready messages in a queue (null when it does not exist).</summary>
    public static async Task<uint?> MessagesIn(string queue) => (await Declared(queue))?.MessageCount;

    private static async Task<QueueDeclareOk?> Declared(string queue)
    {
        var factory = new ConnectionFactory { Uri = new Uri(Rabbit) };
        await using var connection = await factory.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        try
        {
            return await channel.QueueDeclarePassiveAsync(queue);
        }
        catch (RabbitMQ.Client.Exceptions.OperationInterruptedException)
        {
            return null;
        }
    }

    /// <summary>Runs a teleport command in-process (off the test's thread).</summary>
    public static Task<CliRun> Cli(params string[] args) => Task.Run(() => CliRun.Of(args));

    /// <summary>
    /// `teleport migrate --wait` of a new migration of the given volume, sent to this bed's orchestrator (a published
    /// request would reach every orchestrator on the shared broker); returns the run and the id.
    /// </summary>
    public async Task<(CliRun Run, Guid Id)> MigrateAndWait(string volume, params string[] extra)
    {
        var id = Guid.NewGuid();
        var run = await Cli([
            "migrate", "--vm", $"vm-{volume}", "--volume", volume, "--from", Source, "--to", Destination, "--host", Host,
            "--id", id.ToString(), "--wait", "--timeout", "60", "--bus", Rabbit, "--orchestrator-queue", Queue, .. extra]);
        return (run, id);
    }

    /// <summary>Polls `teleport status ID --json` until the state is one of <paramref name="states"/>.</summary>
    public async Task<JsonElement> WaitForState(Guid id, params string[] states)
    {
        var until = DateTime.UtcNow.AddSeconds(30);
        CliRun? last = null;
        while (DateTime.UtcNow < until)
        {
            last = await Cli("status", id.ToString(), "--json", "--db", Database);
            if (last.ExitCode == 0 && states.Contains(last.Json().GetProperty("state").GetString()))
                return last.Json();
            await Task.Delay(200);
        }

        Assert.Fail($"migration {id} did not reach {string.Join("/", states)}: {last?.Stdout} {last?.Stderr}");
        return default;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        if (_orchestrator is not null)
            Assert.Equal(0, await _orchestrator.WaitAsync(TimeSpan.FromSeconds(60)));
        if (_workers is not null)
            await _workers.StopAsync();
        File.Delete(_configFile);
        if (_sqliteFile is not null)
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            foreach (string? suffix in new[] { "", "-wal", "-shm" })
                File.Delete(_sqliteFile + suffix);
        }

        if (_postgresName is not null)
        {
            NpgsqlConnection.ClearAllPools();
            await using var connection = new NpgsqlConnection(TestEnvironment.Postgres);
            await connection.OpenAsync();
            await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{_postgresName}\" WITH (FORCE)", connection);
            await drop.ExecuteNonQueryAsync();
        }

        _stop.Dispose();
    }
}
