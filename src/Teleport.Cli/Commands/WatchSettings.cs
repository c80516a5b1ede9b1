namespace Teleport.Cli.Commands;

/// <summary>Options of <c>teleport watch</c>.</summary>
public sealed class WatchSettings : GlobalSettings, ISagaStoreSettings
{
    [CommandOption("--db <DB>")]
    [Description("The orchestrators' saga state: SQLite file or PostgreSQL connection string (default: TELEPORT_DB).")]
    public string? Database { get; init; }

    [CommandOption("--interval <SECONDS>")]
    [Description("How often the store is read (default 1).")]
    [DefaultValue(1.0)]
    public double IntervalSeconds { get; init; } = 1.0;

    public override ValidationResult Validate() =>
        IntervalSeconds is < 0.05 or > 3600 || double.IsNaN(IntervalSeconds)
            ? ValidationResult.Error($"--interval {IntervalSeconds} must be between 0.05 and 3600 seconds")
            : base.Validate();
}
