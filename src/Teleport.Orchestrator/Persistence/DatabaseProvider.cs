namespace Teleport.Orchestrator.Persistence;

/// <summary>Which database holds the saga state.</summary>
public enum DatabaseProvider
{
    Sqlite,
    Postgres,
}
