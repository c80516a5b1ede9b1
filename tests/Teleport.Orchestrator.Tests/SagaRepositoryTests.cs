using Microsoft.EntityFrameworkCore;
using Teleport.Contracts;
using Teleport.Orchestrator.Persistence;
using static Teleport.Orchestrator.Tests.SagaTestHost;

namespace Teleport.Orchestrator.Tests;

/// <summary>The EF Core saga repository on SQLite and on a real PostgreSQL.</summary>
public sealed class SagaRepositoryTests
{
    public static TheoryData<string> Providers() => ["sqlite", "postgres"];

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Schema_is_created_once_and_a_second_start_changes_nothing(string provider)
    {
        await using var test = await TestDatabase.CreateAsync(provider);

        await using (var context = test.Open().CreateContext())
        {
            Assert.Equal([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], await new SchemaMigrator(context, test.Open().Provider).MigrateAsync(CancellationToken.None));
        }

        await using (var context = test.Open().CreateContext())
        {
            Assert.Empty(await new SchemaMigrator(context, test.Open().Provider).MigrateAsync(CancellationToken.None));
        }

        // A whole second orchestrator start.
        var database = test.Open();
        await database.EnsureSchemaAsync(CancellationToken.None);
        await database.EnsureSchemaAsync(CancellationToken.None);
        Assert.Equal(SchemaScripts.Latest, await CurrentVersion(database));
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Two_orchestrators_starting_together_apply_each_step_once(string provider)
    {
        await using var test = await TestDatabase.CreateAsync(provider);
        var first = test.Open();
        var second = test.Open();

        await Task.WhenAll(
            Task.Run(() => first.EnsureSchemaAsync(CancellationToken.None)),
            Task.Run(() => second.EnsureSchemaAsync(CancellationToken.None)));

        await using var context = first.CreateContext();
        var versions = await context.Database.SqlQueryRaw<int>($"SELECT \"version\" AS \"Value\" FROM \"{SchemaMigrator.VersionsTable}\"").ToListAsync();
        Assert.Equal([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], versions);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_version_1_database_with_migrations_in_it_upgrades_and_keeps_its_rows(string provider)
    {
        await using var test = await TestDatabase.CreateAsync(provider);
        var database = test.Open();
        var id = Guid.NewGuid();
        await using (var context = database.CreateContext())
        {
            // The database as session 1's orchestrator left it: step 1 only, one migration under way.
            var v1 = SchemaScripts.All.Single(s => s.Version == 1);
            await context.Database.ExecuteSqlRawAsync(
                $"CREATE TABLE \"{SchemaMigrator.VersionsTable}\" (\"version\" INTEGER NOT NULL PRIMARY KEY, \"description\" TEXT NOT NULL, \"applied_at\" TEXT NOT NULL);");
            await context.Database.ExecuteSqlRawAsync(v1.For(database.Provider));
            await context.Database.ExecuteSqlRawAsync(
                $"INSERT INTO \"{SchemaMigrator.VersionsTable}\" (\"version\", \"description\", \"applied_at\") VALUES (1, 'v1', 'x')");
            string insert = $"INSERT INTO \"{OrchestratorDbContext.MigrationsTable}\" (\"CorrelationId\", \"CurrentState\", \"Version\", \"Phase\", \"Attempt\", " +
                         "\"VmId\", \"VolumeId\", \"SourceStorageId\", \"DestinationStorageId\", \"HostId\", \"OptionUseIndex\", \"VolumeBytes\", \"Blocks\", " +
                         "\"ZeroBlocks\", \"IndexBytes\", \"BlocksFromIndex\", \"BlocksRequestedFromSource\", \"Rounds\", \"BlocksSent\", \"BytesOnWire\", " +
                         "\"LastBytesPerSecond\", \"DirtyBlocks\", \"RoundCapReached\", \"Verified\", \"IndexStreamedSeen\", \"BlocksRequestedSeen\", " +
                         "\"ThresholdSeen\", \"SwitchConfirmed\", \"DestinationVerified\", \"PauseRequested\", \"SwitchRequested\", \"RollbackIncomplete\") " +
                         "VALUES ({0}, 'Copying', 7, 'Copy', 1, 'vm', 'vol', 'a', 'b', 'h', TRUE, 4096, 1, 0, 10, 0, 1, 2, 1, 999, 0, 0, FALSE, FALSE, " +
                         "TRUE, TRUE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE)";
            await context.Database.ExecuteSqlRawAsync(insert, database.Provider == DatabaseProvider.Postgres ? id : id.ToString().ToUpperInvariant());
        }

        Assert.Equal(1, await CurrentVersion(database));
        await database.EnsureSchemaAsync(CancellationToken.None);
        Assert.Equal(SchemaScripts.Latest, await CurrentVersion(database));

        await using (var context = database.CreateContext())
        {
            var row = await context.Migrations.AsNoTracking().SingleAsync(x => x.CorrelationId == id);
            Assert.Equal(("Copying", 7, 999L, 2), (row.CurrentState, row.Version, row.Run.BytesOnWire, row.Run.Rounds));
            Assert.Null(row.Run.NbdEndpoint);
            Assert.Null(row.Run.ExportName);
            Assert.Null(row.PhaseEnteredAt);
        }
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_version_2_database_with_migrations_in_it_upgrades_and_keeps_its_rows(string provider)
    {
        await using var test = await TestDatabase.CreateAsync(provider);
        var database = test.Open();
        var running = Guid.NewGuid();
        var failed = Guid.NewGuid();
        await using (var context = database.CreateContext())
        {
            // The database as the orchestrator of schema version 2 left it: one migration paused, one failed.
            await context.Database.ExecuteSqlRawAsync(
                $"CREATE TABLE \"{SchemaMigrator.VersionsTable}\" (\"version\" INTEGER NOT NULL PRIMARY KEY, \"description\" TEXT NOT NULL, \"applied_at\" TEXT NOT NULL);");
            foreach (var step in SchemaScripts.All.Where(s => s.Version <= 2))
            {
                await context.Database.ExecuteSqlRawAsync(step.For(database.Provider));
                string recorded = $"INSERT INTO \"{SchemaMigrator.VersionsTable}\" (\"version\", \"description\", \"applied_at\") VALUES ({step.Version}, 'v{step.Version}', 'x')";
                await context.Database.ExecuteSqlRawAsync(recorded);
            }

            foreach (var (id, state, rounds) in new[] { (running, "Pausing", 3), (failed, "Failed", 1) })
            {
                string insert = $"INSERT INTO \"{OrchestratorDbContext.MigrationsTable}\" (\"CorrelationId\", \"CurrentState\", \"Version\", \"Phase\", \"Attempt\", " +
                             "\"VmId\", \"VolumeId\", \"SourceStorageId\", \"DestinationStorageId\", \"HostId\", \"OptionUseIndex\", \"VolumeBytes\", \"Blocks\", " +
                             "\"ZeroBlocks\", \"IndexBytes\", \"BlocksFromIndex\", \"BlocksRequestedFromSource\", \"Rounds\", \"BlocksSent\", \"BytesOnWire\", " +
                             "\"LastBytesPerSecond\", \"DirtyBlocks\", \"RoundCapReached\", \"Verified\", \"IndexStreamedSeen\", \"BlocksRequestedSeen\", " +
                             "\"ThresholdSeen\", \"SwitchConfirmed\", \"DestinationVerified\", \"PauseRequested\", \"SwitchRequested\", \"RollbackIncomplete\", " +
                             "\"NbdEndpoint\", \"ExportName\") " +
                             $"VALUES ({{0}}, '{state}', 5, 'CutOver', 2, 'vm', 'vol', 'a', 'b', 'h', TRUE, 4096, 1, 0, 10, 0, 1, {rounds}, 1, 777, 0, 0, FALSE, FALSE, " +
                             "TRUE, TRUE, TRUE, FALSE, FALSE, TRUE, FALSE, FALSE, '10.0.0.2:10809', 'vol-at-b')";
                await context.Database.ExecuteSqlRawAsync(insert, database.Provider == DatabaseProvider.Postgres ? id : id.ToString().ToUpperInvariant());
            }
        }

        Assert.Equal(2, await CurrentVersion(database));
        await database.EnsureSchemaAsync(CancellationToken.None);
        Assert.Equal(SchemaScripts.Latest, await CurrentVersion(database));

        await using (var context = database.CreateContext())
        {
            var row = await context.Migrations.AsNoTracking().SingleAsync(x => x.CorrelationId == running);
            Assert.Equal(("Pausing", 5, 2, 777L, 3, "10.0.0.2:10809", "vol-at-b"),
                (row.CurrentState, row.Version, row.Attempt, row.Run.BytesOnWire, row.Run.Rounds, row.Run.NbdEndpoint, row.Run.ExportName));
            Assert.True(row.Run.PauseRequested);
            Assert.Equal((0, (DateTime?)null, false, false), (row.Run.Nudges, row.NudgeAtUtc, row.Run.SourceAbortRequested, row.Run.DestinationAbortRequested));
            Assert.Equal("Failed", (await context.Migrations.AsNoTracking().SingleAsync(x => x.CorrelationId == failed)).CurrentState);

            // The new columns take values like the others.
            var tracked = await context.Migrations.SingleAsync(x => x.CorrelationId == running);
            tracked.Run.Nudges = 4;
            tracked.NudgeAtUtc = new DateTime(2026, 11, 25, 1, 0, 0, 250, DateTimeKind.Utc);
            tracked.Run.SourceAbortRequested = true;
            await context.SaveChangesAsync();
        }

        await using (var context = database.CreateContext())
        {
            var row = await context.Migrations.AsNoTracking().SingleAsync(x => x.CorrelationId == running);
            Assert.Equal((4, new DateTime(2026, 11, 25, 1, 0, 0, 250, DateTimeKind.Utc), true, false),
                (row.Run.Nudges, row.NudgeAtUtc!.Value, row.Run.SourceAbortRequested, row.Run.DestinationAbortRequested));
        }
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_schema_newer_than_the_orchestrator_refuses_to_start(string provider)
    {
        await using var test = await TestDatabase.CreateAsync(provider);
        var database = test.Open();
        await database.EnsureSchemaAsync(CancellationToken.None);
        await using (var context = database.CreateContext())
        {
            await context.Database.ExecuteSqlRawAsync(
                $"INSERT INTO \"{SchemaMigrator.VersionsTable}\" (\"version\", \"description\", \"applied_at\") VALUES (99, 'future', 'x')");
        }

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => test.Open().EnsureSchemaAsync(CancellationToken.None));
        Assert.Contains("newer than this orchestrator knows", error.Message);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Every_column_of_the_saga_round_trips(string provider)
    {
        await using var test = await TestDatabase.CreateAsync(provider);
        var database = test.Open();
        var saga = FilledSaga();

        await using (var context = await database.OpenAsync(CancellationToken.None))
        {
            context.Migrations.Add(saga);
            await context.SaveChangesAsync();
        }

        await using (var context = database.CreateContext())
        {
            var loaded = await context.Migrations.AsNoTracking().SingleAsync(x => x.CorrelationId == saga.CorrelationId);
            foreach (var (written, read) in new (object, object)[] { (saga, loaded), (saga.Run, loaded.Run) })
            {
                foreach (var property in SampleValues.Columns(written.GetType()))
                {
                    object? expected = property.Name == nameof(MigrationState.Version) ? 1 : property.GetValue(written);
                    Assert.True(Equals(expected, property.GetValue(read)),
                        $"{property.Name}: wrote {expected}, read {property.GetValue(read)}");
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Insert_load_update_delete_with_a_version_that_counts_saves(string provider)
    {
        await using var test = await TestDatabase.CreateAsync(provider);
        var database = test.Open();
        var id = Guid.NewGuid();

        await using (var context = await database.OpenAsync(CancellationToken.None))
        {
            context.Migrations.Add(new MigrationState { CorrelationId = id, CurrentState = "Preparing", VmId = "vm" });
            await context.SaveChangesAsync();
        }

        await using (var context = database.CreateContext())
        {
            var row = await context.Migrations.SingleAsync(x => x.CorrelationId == id);
            Assert.Equal(("Preparing", "vm", 1), (row.CurrentState, row.VmId, row.Version));
            row.CurrentState = "Indexing";
            await context.SaveChangesAsync();
            row.Run.Rounds = 3;
            await context.SaveChangesAsync();
        }

        await using (var context = database.CreateContext())
        {
            var row = await context.Migrations.SingleAsync(x => x.CorrelationId == id);
            Assert.Equal(("Indexing", 3, 3), (row.CurrentState, row.Run.Rounds, row.Version));
            context.Migrations.Remove(row);
            await context.SaveChangesAsync();
        }

        await using (var context = database.CreateContext())
        {
            Assert.Null(await context.Migrations.SingleOrDefaultAsync(x => x.CorrelationId == id));
        }
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Concurrent_updates_of_one_saga_conflict_and_the_first_write_survives(string provider)
    {
        await using var test = await TestDatabase.CreateAsync(provider);
        var database = test.Open();
        var id = Guid.NewGuid();
        await using (var context = await database.OpenAsync(CancellationToken.None))
        {
            context.Migrations.Add(new MigrationState { CorrelationId = id, CurrentState = "Copying" });
            await context.SaveChangesAsync();
        }

        await using var first = database.CreateContext();
        await using var second = database.CreateContext();
        var a = await first.Migrations.SingleAsync(x => x.CorrelationId == id);
        var b = await second.Migrations.SingleAsync(x => x.CorrelationId == id);
        a.Run.Rounds = 4;
        b.Run.ThresholdSeen = true;

        await first.SaveChangesAsync();
        await Assert.ThrowsAsync<DbUpdateConcurrencyException>(() => second.SaveChangesAsync());

        await using var check = database.CreateContext();
        var row = await check.Migrations.AsNoTracking().SingleAsync(x => x.CorrelationId == id);
        Assert.Equal((4, false, 2), (row.Run.Rounds, row.Run.ThresholdSeen, row.Version));
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_second_insert_of_the_same_saga_is_refused(string provider)
    {
        await using var test = await TestDatabase.CreateAsync(provider);
        var database = test.Open();
        var id = Guid.NewGuid();
        await using (var context = await database.OpenAsync(CancellationToken.None))
        {
            context.Migrations.Add(new MigrationState { CorrelationId = id, CurrentState = "Preparing" });
            await context.SaveChangesAsync();
        }

        await using var again = database.CreateContext();
        again.Migrations.Add(new MigrationState { CorrelationId = id, CurrentState = "Preparing" });
        await Assert.ThrowsAnyAsync<DbUpdateException>(() => again.SaveChangesAsync());
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Two_events_handled_at_once_for_one_saga_are_both_recorded_through_retry(string provider)
    {
        await using var test = await TestDatabase.CreateAsync(provider);
        var race = new RaceMaker();
        var conflicts = new ConflictCounter();
        await using var host = await StartAsync(database: test.ConnectionString, configureDb: b => b.AddInterceptors(race, conflicts));
        // One orchestrator handles a migration's messages one at a time, so the race is between two of them; the
        // race maker watches both, so it sees the other's update go through.
        await using var other = await StartAsync(database: test.ConnectionString, configureDb: b => b.AddInterceptors(race));
        var m = new MigrationScript(host);
        await m.DriveTo("Indexing");

        // The first event's update is held until the other orchestrator's has gone through: the first must conflict.
        race.Arm();
        await host.Publish(m.BlocksRequested());
        await race.Held.WaitAsync(TimeSpan.FromSeconds(15));
        await other.Publish(m.Threshold(rounds: 1));

        var row = await host.WaitFor(m.Id, r => r.Run.BlocksRequestedSeen && r.Run.ThresholdSeen, "both events recorded");
        Assert.Equal("Indexing", row.CurrentState);
        Assert.True(race.HeldUpdates == 1, "no update was held:\n" + race.Trace);
        Assert.True(conflicts.Conflicts >= 1, "no concurrency conflict happened, so the retry path was not exercised:\n" + race.Trace);

        // With both recorded, the index event goes straight to the pause.
        await host.Publish(m.IndexStreamed());
        await host.Sent<PauseVm>(m.Id, MigrationScript.HostQueue(Host));
        await host.WaitForState(m.Id, "Pausing");
        Assert.Equal(1, host.SentCount<PauseVm>(m.Id));
        Assert.Equal(0, other.SentCount<PauseVm>(m.Id));
        host.AssertNoFaults();
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_message_that_lost_the_race_sends_nothing_until_its_rerun_is_saved(string provider)
    {
        await using var test = await TestDatabase.CreateAsync(provider);
        var race = new RaceMaker();
        var conflicts = new ConflictCounter();
        await using var host = await StartAsync(database: test.ConnectionString, configureDb: b => b.AddInterceptors(race, conflicts));
        await using var other = await StartAsync(database: test.ConnectionString, configureDb: b => b.AddInterceptors(race));
        var m = new MigrationScript(host);
        await m.DriveTo("Copying");

        // The threshold's save (which would send PauseVm) is held while the other orchestrator records a round: it
        // must conflict, and the PauseVm of that lost attempt must never leave the outbox.
        race.Arm(sql => sql.Contains("ThresholdSeen", StringComparison.Ordinal));
        await host.Publish(m.Threshold(rounds: 2));
        await race.Held.WaitAsync(TimeSpan.FromSeconds(15));
        await other.Publish(m.Round(2));

        await host.Sent<PauseVm>(m.Id, MigrationScript.HostQueue(Host));
        var row = await host.WaitForState(m.Id, "Pausing");
        Assert.True(race.HeldUpdates == 1, "the threshold's update was not held:\n" + race.Trace);
        Assert.True(conflicts.Conflicts >= 1, "no conflict:\n" + race.Trace);
        Assert.Equal(2, row.Run.Rounds);
        Assert.Equal(10_000_000 + 10_000_000, row.Run.BytesOnWire);
        await Task.Delay(200);
        Assert.Equal(1, host.SentCount<PauseVm>(m.Id));
        Assert.Equal(0, other.SentCount<PauseVm>(m.Id));
        host.AssertNoFaults();
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task One_orchestrator_handles_the_messages_of_a_migration_in_turn(string provider)
    {
        await using var test = await TestDatabase.CreateAsync(provider);
        var race = new RaceMaker(holdLimit: TimeSpan.FromSeconds(2));
        var conflicts = new ConflictCounter();
        await using var host = await StartAsync(database: test.ConnectionString, configureDb: b => b.AddInterceptors(race, conflicts));
        var m = new MigrationScript(host);
        await m.DriveTo("Switching");

        // The cut-over's two answers arrive together: the second waits for the first instead of racing it, so the
        // VM is not kept paused by a conflict and its retry.
        race.Arm();
        await host.Publish(m.Switched());
        await race.Held.WaitAsync(TimeSpan.FromSeconds(15));
        await host.Publish(m.Completed());

        await host.Sent<ResumeVm>(m.Id, MigrationScript.HostQueue(Host));
        Assert.Equal(0, conflicts.Conflicts);
        Assert.Contains("released after 0 other update(s)", race.Trace);
        host.AssertNoFaults();
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Many_sagas_driven_at_once_all_finish(string provider)
    {
        await using var test = await TestDatabase.CreateAsync(provider);
        await using var host = await StartAsync(database: test.ConnectionString);
        var scripts = Enumerable.Range(0, 8).Select(_ => new MigrationScript(host)).ToList();

        await Task.WhenAll(scripts.Select(async m =>
        {
            await m.DriveTo("Resuming");
            await host.Publish(m.Resumed());
            await host.WaitForState(m.Id, "Succeeded");
        }));

        foreach (var m in scripts)
        {
            await host.Published<MigrationSucceeded>(m.Id);
            Assert.Equal(1, host.PublishedCount<MigrationSucceeded>(m.Id));
        }

        host.AssertNoFaults();
    }

    // Distinct non-default values in every column, the attempt's included.
    private static MigrationState FilledSaga()
    {
        var saga = new MigrationState();
        SampleValues.Fill(saga.Run, SampleValues.Fill(saga));
        return saga;
    }

    private static async Task<int> CurrentVersion(OrchestratorDatabase database)
    {
        await using var context = database.CreateContext();
        await context.Database.OpenConnectionAsync();
        return await new SchemaMigrator(context, database.Provider).CurrentVersionAsync(null, CancellationToken.None);
    }
}
