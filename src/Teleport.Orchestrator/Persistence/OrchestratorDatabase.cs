using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;

namespace Teleport.Orchestrator.Persistence;

/// <summary>
/// The orchestrator's database: picks the provider from the configured string, brings the schema up to date
/// once per process before first use, and hands out short-lived contexts (one per message).
/// </summary>
public sealed class OrchestratorDatabase
{
    private readonly DbContextOptions<OrchestratorDbContext> _options;
    private readonly SemaphoreSlim _schemaLock = new(1, 1);
    private volatile bool _schemaReady;

    public OrchestratorDatabase(string database)
        : this(database, null)
    {
    }

    /// <summary>Tests add interceptors through <paramref name="configure"/>.</summary>
    internal OrchestratorDatabase(string database, Action<DbContextOptionsBuilder>? configure)
    {
        if (string.IsNullOrWhiteSpace(database))
        {
            throw new ArgumentException("Orchestrator:Database must name a SQLite file or a PostgreSQL connection string", nameof(database));
        }

        Provider = DetectProvider(database);
        var builder = new DbContextOptionsBuilder<OrchestratorDbContext>();
        if (Provider == DatabaseProvider.Postgres)
        {
            ConnectionString = database;
            builder.UseNpgsql(database);
        }
        else
        {
            ConnectionString = database.Contains('=')
                ? database
                : new SqliteConnectionStringBuilder { DataSource = database }.ToString();
            builder.UseSqlite(ConnectionString);
        }

        configure?.Invoke(builder);
        _options = builder.Options;
    }

    public DatabaseProvider Provider { get; }

    public string ConnectionString { get; }

    /// <summary>PostgreSQL when the string has a Host key (an Npgsql connection string), SQLite otherwise.</summary>
    public static DatabaseProvider DetectProvider(string database) =>
        database.Split(';').Any(part => part.Split('=', 2) is [var key, _]
            && key.Trim().Equals("Host", StringComparison.OrdinalIgnoreCase))
            ? DatabaseProvider.Postgres
            : DatabaseProvider.Sqlite;

    /// <summary>A new context; the schema must be ready (see <see cref="OpenAsync"/>).</summary>
    public OrchestratorDbContext CreateContext() => new(_options);

    /// <summary>A new context on an up-to-date schema.</summary>
    public async Task<OrchestratorDbContext> OpenAsync(CancellationToken cancellationToken)
    {
        await EnsureSchemaAsync(cancellationToken).ConfigureAwait(false);
        return CreateContext();
    }

    /// <summary>Creates or upgrades the schema, once per process (a failure is retried by the next caller).</summary>
    public async Task EnsureSchemaAsync(CancellationToken cancellationToken)
    {
        if (_schemaReady)
        {
            return;
        }

        await _schemaLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!_schemaReady)
            {
                await using var context = CreateContext();
                await new SchemaMigrator(context, Provider).MigrateAsync(cancellationToken).ConfigureAwait(false);
                _schemaReady = true;
            }
        }
        finally
        {
            _schemaLock.Release();
        }
    }
}
