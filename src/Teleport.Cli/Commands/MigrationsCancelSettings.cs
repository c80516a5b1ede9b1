namespace Teleport.Cli.Commands;

/// <summary>Options of <c>teleport migrations cancel ID --reason R</c>.</summary>
public sealed class MigrationsCancelSettings : MigrationsSettings
{
    [CommandOption("--reason <TEXT>")]
    [Description("Why: kept on the migration as its failure reason.")]
    public string? Reason { get; init; }

    public override ValidationResult Validate() =>
        string.IsNullOrWhiteSpace(Reason) ? ValidationResult.Error("--reason is required: say why the migration is cancelled") : base.Validate();
}
