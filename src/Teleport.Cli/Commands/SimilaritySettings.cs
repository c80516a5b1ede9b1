namespace Teleport.Cli.Commands;

public sealed class SimilaritySettings : BlockSizeSettings
{
    [CommandOption("--base <IMAGE>")]
    [Description("An image the destination already holds (repeat for a matrix).")]
    public string[] Bases { get; init; } = [];

    [CommandOption("--target <IMAGE>")]
    [Description("An image to migrate (repeat for a matrix).")]
    public string[] Targets { get; init; } = [];

    public override Spectre.Console.ValidationResult Validate()
    {
        if (Bases.Length == 0 || Targets.Length == 0)
            return Spectre.Console.ValidationResult.Error("give at least one --base and one --target image");
        return base.Validate();
    }
}
