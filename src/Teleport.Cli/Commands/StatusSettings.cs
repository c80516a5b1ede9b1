namespace Teleport.Cli.Commands;

/// <summary>Options of <c>teleport status</c>.</summary>
public sealed class StatusSettings : JsonSettings, ISagaStoreSettings
{
    [CommandArgument(0, "[ID]")]
    [Description("One migration: its id, or the first hex digits of it (at least 4) as the table shows them.")]
    public string? Id { get; init; }

    [CommandOption("--db <DB>")]
    [Description("The orchestrators' saga state: SQLite file or PostgreSQL connection string (default: TELEPORT_DB).")]
    public string? Database { get; init; }
}
