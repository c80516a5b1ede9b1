using System.ComponentModel;
using Spectre.Console.Cli;
using Teleport.Cli.Infrastructure;

namespace Teleport.Cli.Commands;

/// <summary>
/// Options of <c>teleport orchestrator</c>. Every flag overrides the same key of the "Orchestrator" section read from
/// --config and from TELEPORT_ORCHESTRATOR__KEY environment variables.
/// </summary>
public sealed class OrchestratorSettings : GlobalSettings
{
    [CommandOption("--config <FILE>")]
    [Description("JSON settings file (appsettings style: { \"Orchestrator\": { \"Database\": ..., \"Bus\": ..., \"Settings\": { ... } } }).")]
    public string? ConfigFile { get; init; }

    [CommandOption("--db <DB>")]
    [Description("Saga state: a SQLite file (default teleport-orchestrator.db) or a PostgreSQL connection string (Host=...;Database=...).")]
    public string? Database { get; init; }

    [CommandOption("--bus <BUS>")]
    [Description("'memory' or rabbitmq://user:pass@HOST:PORT/ (amqp:// works too); default memory.")]
    public string? Bus { get; init; }

    /// <summary>The flags given, as configuration keys.</summary>
    public IReadOnlyDictionary<string, string?> Overrides()
    {
        var keys = new Dictionary<string, string?>();
        if (Database is not null)
            keys["Orchestrator:Database"] = Database;
        if (Bus is not null)
            keys["Orchestrator:Bus"] = Bus;
        return keys;
    }
}
