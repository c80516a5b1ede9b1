namespace Teleport.Orchestrator.Persistence;

/// <summary>One numbered schema step, in the SQL of each provider.</summary>
public sealed record SchemaScript(int Version, string Description, string Sqlite, string Postgres)
{
    public string For(DatabaseProvider provider) => provider == DatabaseProvider.Postgres ? Postgres : Sqlite;
}
