using System.Data.Common;
using System.Globalization;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;

namespace Teleport.Orchestrator.Persistence;

/// <summary>
/// Brings a database up to <see cref="SchemaScripts.Latest"/>: a schema_versions table records each applied step;
/// missing steps run in order inside one transaction. Concurrent starts are serialised (a PostgreSQL advisory lock;
/// SQLite's write lock taken by BEGIN IMMEDIATE), so two orchestrators starting together apply each step once.
/// </summary>
public sealed class SchemaMigrator(OrchestratorDbContext context, DatabaseProvider provider)
{
    /// <summary>Table recording the applied schema steps.</summary>
    public const string VersionsTable = "schema_versions";

    // Any fixed number: the advisory lock's name for "teleport orchestrator schema".
    private const long AdvisoryLockKey = 0x7E1E_9047_5C4E_3A01;

    /// <summary>Applies the missing steps; returns the versions it applied (empty when the schema was current).</summary>
    public async Task<IReadOnlyList<int>> MigrateAsync(CancellationToken cancellationToken)
    {
        var database = context.Database;
        await database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (provider == DatabaseProvider.Sqlite)
            {
                // Readers need not wait for the writer: several messages are handled at once.
                await ExecuteAsync(null, "PRAGMA journal_mode=WAL;", cancellationToken).ConfigureAwait(false);
            }

            await using var transaction = await database.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            var dbTransaction = transaction.GetDbTransaction();
            if (provider == DatabaseProvider.Postgres)
            {
                await ExecuteAsync(dbTransaction, $"SELECT pg_advisory_xact_lock({AdvisoryLockKey});", cancellationToken).ConfigureAwait(false);
            }

            await ExecuteAsync(dbTransaction,
                $"CREATE TABLE IF NOT EXISTS \"{VersionsTable}\" (\"version\" INTEGER NOT NULL PRIMARY KEY, \"description\" TEXT NOT NULL, \"applied_at\" TEXT NOT NULL);",
                cancellationToken).ConfigureAwait(false);

            int current = await CurrentVersionAsync(dbTransaction, cancellationToken).ConfigureAwait(false);
            if (current > SchemaScripts.Latest)
            {
                throw new InvalidOperationException(
                    $"the database schema is version {current}, newer than this orchestrator knows ({SchemaScripts.Latest}): upgrade the orchestrator");
            }

            var applied = new List<int>();
            foreach (var script in SchemaScripts.All.Where(s => s.Version > current))
            {
                await ExecuteAsync(dbTransaction, script.For(provider), cancellationToken).ConfigureAwait(false);
                await using var record = Command(dbTransaction,
                    $"INSERT INTO \"{VersionsTable}\" (\"version\", \"description\", \"applied_at\") VALUES (@version, @description, @applied);");
                AddParameter(record, "@version", script.Version);
                AddParameter(record, "@description", script.Description);
                AddParameter(record, "@applied", DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture));
                await record.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                applied.Add(script.Version);
            }

            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            return applied;
        }
        finally
        {
            await database.CloseConnectionAsync().ConfigureAwait(false);
        }
    }

    /// <summary>The highest applied step, 0 for an empty database.</summary>
    public async Task<int> CurrentVersionAsync(DbTransaction? transaction, CancellationToken cancellationToken)
    {
        await using var command = Command(transaction, $"SELECT COALESCE(MAX(\"version\"), 0) FROM \"{VersionsTable}\";");
        object? value = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        return Convert.ToInt32(value, CultureInfo.InvariantCulture);
    }

    private async Task ExecuteAsync(DbTransaction? transaction, string sql, CancellationToken cancellationToken)
    {
        await using var command = Command(transaction, sql);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private DbCommand Command(DbTransaction? transaction, string sql)
    {
        var command = context.Database.GetDbConnection().CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        return command;
    }

    private static void AddParameter(DbCommand command, string name, object value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value;
        command.Parameters.Add(parameter);
    }
}
