using MassTransit;
using MassTransit.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Teleport.Contracts;
using Teleport.Orchestrator.Persistence;

namespace Teleport.Orchestrator.Tests;

/// <summary>
/// The orchestrator as the host wires it (AddTeleportOrchestrator + AddMigrationSaga, our EF repository) on
/// MassTransit's in-memory test harness; the test plays the storage and host workers.
/// </summary>
public sealed class SagaTestHost : IAsyncDisposable
{
    public const string Source = "src-1";
    public const string Destination = "dst-1";
    public const string Host = "host-1";
    public const string Vm = "vm-1";
    public const string Volume = "vol-1";
    public const string DestinationNbd = "10.0.0.2:10809";
    public const string DestinationExport = "vol-1-at-dst";

    // A guard, not a speed target: generous, as a loaded 2-core machine can hold a saga step for many seconds.
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(45);
    private readonly ServiceProvider _provider;
    private readonly string? _sqliteFile;

    // The test's own reads go around any interceptors the orchestrator's database was given.
    private readonly OrchestratorDatabase _reader;

    private SagaTestHost(ServiceProvider provider, string? sqliteFile, string database)
    {
        _provider = provider;
        _sqliteFile = sqliteFile;
        _reader = new OrchestratorDatabase(database);
        Harness = provider.GetRequiredService<ITestHarness>();
        Database = provider.GetRequiredService<OrchestratorDatabase>();
        Sweeper = provider.GetRequiredService<DeadlineSweeper>();
    }

    public ITestHarness Harness { get; }

    /// <summary>The orchestrator's services.</summary>
    public IServiceProvider Services => _provider;

    public OrchestratorDatabase Database { get; }

    public DeadlineSweeper Sweeper { get; }

    public TestClock Clock => _provider.GetRequiredService<TestClock>();

    /// <summary>What the orchestrator logged.</summary>
    public CapturedLogs Logs => _provider.GetServices<ILoggerProvider>().OfType<CapturedLogs>().Single();

    /// <summary>
    /// The harness starts the hosted sweeper too: its timer stays out of the way (tests sweep by hand with the test
    /// clock) unless a test sets a short SweepInterval to exercise the loop.
    /// </summary>
    public static MigrationSettings DefaultSettings() => new() { SweepInterval = TimeSpan.FromHours(1) };

    /// <summary>Starts a harness on a fresh SQLite file (or on <paramref name="database"/>).</summary>
    public static async Task<SagaTestHost> StartAsync(
        MigrationSettings? settings = null, string? database = null, Action<DbContextOptionsBuilder>? configureDb = null)
    {
        string? file = null;
        if (database is null)
        {
            file = Path.Combine(Path.GetTempPath(), $"teleport-orch-{Guid.NewGuid():N}.db");
            database = file;
        }

        var options = new OrchestratorOptions { Database = database, Settings = settings ?? DefaultSettings() };
        var services = new ServiceCollection();
        services.AddTeleportOrchestrator(options);
        var logs = new CapturedLogs();
        services.AddLogging(b => b.AddProvider(logs));
        var clock = new TestClock(new DateTimeOffset(2026, 11, 24, 22, 0, 0, TimeSpan.Zero));
        services.AddSingleton<TimeProvider>(clock);
        services.AddSingleton(clock);
        services.AddSingleton(_ => new OrchestratorDatabase(database, configureDb));
        services.AddMassTransitTestHarness(x =>
        {
            x.DisableUsageTelemetry();
            x.AddMigrationSaga();
        });
        var provider = services.BuildServiceProvider(true);
        var host = new SagaTestHost(provider, file, database);
        await host.Database.EnsureSchemaAsync(CancellationToken.None);
        await host.Harness.Start();
        return host;
    }

    public Task Publish<T>(T message)
        where T : class => Harness.Bus.Publish(message);

    public static MigrationRequested Request(Guid id, string destination = Destination) =>
        new(id, Vm, Volume, Source, destination, Host, new MigrationOptions(BlockSize: 4096, MaxCopyRounds: 5), DateTimeOffset.Parse("2026-11-24T21:59:00Z"));

    /// <summary>Reads the saga row as it is in the database now (null if none).</summary>
    public async Task<MigrationState?> Row(Guid id)
    {
        await using var db = await _reader.OpenAsync(CancellationToken.None);
        return await db.Migrations.AsNoTracking().SingleOrDefaultAsync(x => x.CorrelationId == id);
    }

    /// <summary>Polls the row until <paramref name="condition"/> holds; fails with the last row seen.</summary>
    public async Task<MigrationState> WaitFor(Guid id, Func<MigrationState, bool> condition, string what)
    {
        var until = DateTime.UtcNow + Wait;
        MigrationState? row = null;
        while (DateTime.UtcNow < until)
        {
            row = await Row(id);
            if (row is not null && condition(row))
            {
                return row;
            }

            await Task.Delay(20);
        }

        Assert.Fail($"timed out waiting for {what}; saga row: state={row?.CurrentState ?? "(none)"} phase={row?.Phase} reason={row?.Run.FailureReason}");
        return null!;
    }

    public Task<MigrationState> WaitForState(Guid id, string state) => WaitFor(id, r => r.CurrentState == state, $"state {state}");

    /// <summary>Waits for the <paramref name="index"/>-th (0-based) command of type T for this migration and checks its queue.</summary>
    public async Task<T> Sent<T>(Guid id, string queue, int index = 0)
        where T : class
    {
        var until = DateTime.UtcNow + Wait;
        while (DateTime.UtcNow < until)
        {
            var sent = Harness.Sent.Select<T>(m => MigrationIdOf(m.Context.Message) == id).ToList();
            if (sent.Count > index)
            {
                var message = sent[index];
                Assert.Equal(queue, message.Context.DestinationAddress!.AbsolutePath.Trim('/'));
                return message.Context.Message;
            }

            await Task.Delay(20);
        }

        Assert.Fail($"no {typeof(T).Name} #{index + 1} was sent for {id}");
        return null!;
    }

    public int SentCount<T>(Guid id)
        where T : class => Harness.Sent.Select<T>(m => MigrationIdOf(m.Context.Message) == id).Count();

    public async Task<T> Published<T>(Guid id)
        where T : class
    {
        var until = DateTime.UtcNow + Wait;
        while (DateTime.UtcNow < until)
        {
            var published = Harness.Published.Select<T>(m => MigrationIdOf(m.Context.Message) == id).FirstOrDefault();
            if (published is not null)
            {
                return published.Context.Message;
            }

            await Task.Delay(20);
        }

        Assert.Fail($"no {typeof(T).Name} was published for {id}");
        return null!;
    }

    public int PublishedCount<T>(Guid id)
        where T : class => Harness.Published.Select<T>(m => MigrationIdOf(m.Context.Message) == id).Count();

    /// <summary>Publishes the event and waits until the saga endpoint has consumed it (handled, ignored or faulted).</summary>
    public async Task PublishAndSettle<T>(T message)
        where T : class
    {
        int before = Harness.Consumed.Select<T>(m => m.Context.Message.Equals(message)).Count();
        await Publish(message);
        var until = DateTime.UtcNow + Wait;
        while (DateTime.UtcNow < until)
        {
            if (Harness.Consumed.Select<T>(m => m.Context.Message.Equals(message)).Count() > before)
            {
                // Let whatever the saga sent for it arrive in the harness's lists.
                await Task.Delay(100);
                return;
            }

            await Task.Delay(20);
        }

        Assert.Fail($"{typeof(T).Name} was not consumed");
    }

    /// <summary>No message type T for this migration faulted at the saga.</summary>
    public void AssertNoFaults()
    {
        var faults = Harness.Consumed.Select(m => m.Exception is not null).Select(m => $"{m.MessageType.Name}: {m.Exception!.Message}").ToList();
        Assert.True(faults.Count == 0, "saga faulted: " + string.Join("; ", faults));
    }

    private static Guid MigrationIdOf(object message) =>
        (Guid)message.GetType().GetProperty("MigrationId")!.GetValue(message)!;

    public async ValueTask DisposeAsync()
    {
        await Harness.Stop();
        await _provider.DisposeAsync();
        if (_sqliteFile is not null)
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            foreach (string? suffix in new[] { "", "-wal", "-shm" })
            {
                File.Delete(_sqliteFile + suffix);
            }
        }
    }
}
