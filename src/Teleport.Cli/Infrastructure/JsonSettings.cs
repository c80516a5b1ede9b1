namespace Teleport.Cli.Infrastructure;

/// <summary>Options of every command that can report in JSON for scripts instead of tables for people.</summary>
public class JsonSettings : GlobalSettings
{
    [CommandOption("--json")]
    [Description("Print the result as one JSON object on stdout instead of tables.")]
    public bool Json { get; init; }
}
