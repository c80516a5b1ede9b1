namespace Teleport.Cli.Commands;

/// <summary>
/// Options of <c>teleport orchestrator</c>: the "Orchestrator" section, e.g. { "Orchestrator": { "Database": ...,
/// "Bus": ..., "Settings": { ... } } } in --config.
/// </summary>
public sealed class OrchestratorSettings : RoleSettings
{
    [CommandOption("--db <DB>")]
    [Description("Saga state: a SQLite file (default teleport-orchestrator.db) or a PostgreSQL connection string (Host=...;Database=...).")]
    public string? Database { get; init; }

    protected override string Section => "Orchestrator";

    protected override IEnumerable<(string Key, string? Value)> Flags() => [("Database", Database)];
}
