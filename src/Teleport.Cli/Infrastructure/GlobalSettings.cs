namespace Teleport.Cli.Infrastructure;

/// <summary>Options every command takes.</summary>
public class GlobalSettings : CommandSettings
{
    [CommandOption("--log-format <FORMAT>")]
    [Description("Log lines on stderr as 'text' (default) or 'json' (compact JSON, one event per line).")]
    [DefaultValue("text")]
    public string LogFormat { get; init; } = "text";

    [CommandOption("-v|--verbose")]
    [Description("Log debug detail.")]
    public bool Verbose { get; init; }

    public override Spectre.Console.ValidationResult Validate() =>
        LogFormat is "text" or "json"
            ? Spectre.Console.ValidationResult.Success()
            : Spectre.Console.ValidationResult.Error("--log-format must be 'text' or 'json'");
}
