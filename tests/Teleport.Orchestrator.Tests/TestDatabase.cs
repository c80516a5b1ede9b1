using Npgsql;
using Teleport.Orchestrator.Persistence;

namespace Teleport.Orchestrator.Tests;

/// <summary>
/// A throwaway database: a SQLite file in the temp directory, or a fresh database on the PostgreSQL server that
/// infra/test.d/30-postgres.sh starts (TELEPORT_POSTGRES). Disposing deletes it.
/// </summary>
public sealed class TestDatabase : IAsyncDisposable
{
    private readonly string? _file;
    private readonly string? _postgresServer;
    private readonly string? _postgresName;

    private TestDatabase(string connectionString, string? file, string? postgresServer, string? postgresName)
    {
        ConnectionString = connectionString;
        _file = file;
        _postgresServer = postgresServer;
        _postgresName = postgresName;
    }

    /// <summary>What OrchestratorOptions.Database would hold.</summary>
    public string ConnectionString { get; }

    public static async Task<TestDatabase> CreateAsync(string provider)
    {
        if (provider == "sqlite")
        {
            string file = Path.Combine(Path.GetTempPath(), $"teleport-orch-{Guid.NewGuid():N}.db");
            return new TestDatabase(file, file, null, null);
        }

        string server = TestEnvironment.Postgres;
        string name = $"teleport_{Guid.NewGuid():N}";
        await using (var connection = new NpgsqlConnection(server))
        {
            await connection.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
            await create.ExecuteNonQueryAsync();
        }

        var builder = new NpgsqlConnectionStringBuilder(server) { Database = name };
        return new TestDatabase(builder.ConnectionString, null, server, name);
    }

    public OrchestratorDatabase Open() => new(ConnectionString);

    public async ValueTask DisposeAsync()
    {
        if (_file is not null)
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            foreach (string? suffix in new[] { "", "-wal", "-shm" })
            {
                File.Delete(_file + suffix);
            }
        }

        if (_postgresName is not null)
        {
            NpgsqlConnection.ClearAllPools();
            await using var connection = new NpgsqlConnection(_postgresServer);
            await connection.OpenAsync();
            await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{_postgresName}\" WITH (FORCE)", connection);
            await drop.ExecuteNonQueryAsync();
        }
    }
}
