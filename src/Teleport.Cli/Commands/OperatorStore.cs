using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Teleport.Orchestrator;
using Teleport.Orchestrator.Persistence;

namespace Teleport.Cli.Commands;

/// <summary>
/// Read access to the orchestrators' saga table for the operator commands (<c>--db</c>, else TELEPORT_DB). It never
/// creates or upgrades anything: a mistyped path is an error, not a new empty database.
/// </summary>
public sealed class OperatorStore
{
    public const string EnvironmentVariable = "TELEPORT_DB";

    private readonly OrchestratorDatabase _database;

    private OperatorStore(OrchestratorDatabase database, string description)
    {
        _database = database;
        Description = description;
    }

    /// <summary>The database without credentials, for messages.</summary>
    public string Description { get; }

    /// <summary>The store named by the flag or TELEPORT_DB; null when neither is given and <paramref name="required"/> is false.</summary>
    public static OperatorStore? Open(string? flag, bool required)
    {
        string? text = flag ?? Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (string.IsNullOrWhiteSpace(text))
        {
            return required
                ? throw new UserInputException($"--db is missing (or set {EnvironmentVariable}): the orchestrators' SQLite file or PostgreSQL connection string")
                : null;
        }

        var provider = OrchestratorDatabase.DetectProvider(text);
        if (provider == DatabaseProvider.Sqlite)
        {
            string path = text.Contains('=') ? new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder(text).DataSource : text;
            if (!File.Exists(path))
                throw new UserInputException($"--db '{path}' does not exist (the orchestrator's SQLite file)");
            return new OperatorStore(new OrchestratorDatabase(text), path);
        }

        var builder = new Npgsql.NpgsqlConnectionStringBuilder(text);
        return new OperatorStore(new OrchestratorDatabase(text), $"PostgreSQL {builder.Host}:{builder.Port}/{builder.Database}");
    }

    /// <summary>Every migration, most recently requested first.</summary>
    public async Task<List<MigrationState>> AllAsync(CancellationToken cancellationToken)
    {
        var rows = await QueryAsync(db => db.Migrations.AsNoTracking().ToListAsync(cancellationToken), cancellationToken);
        return rows.OrderByDescending(m => m.RequestedAt).ThenBy(m => m.CorrelationId).ToList();
    }

    /// <summary>
    /// The migration with this id, or the only one whose id starts with it (as status tables show ids shortened).
    /// Unknown or ambiguous ids are the operator's to fix.
    /// </summary>
    public async Task<MigrationState> FindAsync(string id, CancellationToken cancellationToken)
    {
        if (Guid.TryParse(id, out var guid))
        {
            return await QueryAsync(db => db.Migrations.AsNoTracking().SingleOrDefaultAsync(m => m.CorrelationId == guid, cancellationToken), cancellationToken)
                   ?? throw new UserInputException($"no migration {guid} in {Description}");
        }

        string prefix = id.Trim().ToLowerInvariant();
        if (prefix.Length < 4 || !prefix.All(c => char.IsAsciiHexDigit(c) || c == '-'))
            throw new UserInputException($"'{id}' is not a migration id (a GUID, or at least its first 4 hex digits)");
        var matches = (await AllAsync(cancellationToken)).Where(m => m.CorrelationId.ToString().StartsWith(prefix, StringComparison.Ordinal)).ToList();
        return matches switch
        {
            [var one] => one,
            [] => throw new UserInputException($"no migration starting with {prefix} in {Description}"),
            _ => throw new UserInputException($"{matches.Count} migrations start with {prefix}: give more of the id"),
        };
    }

    private async Task<T> QueryAsync<T>(Func<OrchestratorDbContext, Task<T>> query, CancellationToken cancellationToken)
    {
        await using var db = _database.CreateContext();
        try
        {
            return await query(db);
        }
        catch (DbException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new UserInputException($"cannot read migrations from {Description}: {e.Message}");
        }
    }
}
