using System.ComponentModel;
using Spectre.Console.Cli;
using Teleport.Cli.Infrastructure;

namespace Teleport.Cli.Commands;

public sealed class SimilaritySettings : GlobalSettings
{
    [CommandOption("--base <IMAGE>")]
    [Description("An image the destination already holds (repeat for a matrix).")]
    public string[] Bases { get; init; } = [];

    [CommandOption("--target <IMAGE>")]
    [Description("An image to migrate (repeat for a matrix).")]
    public string[] Targets { get; init; } = [];

    [CommandOption("--block-size <SIZE>")]
    [Description("Block size: a power of two from 512 to 64k.")]
    [DefaultValue("4096")]
    public string BlockSize { get; init; } = "4096";

    [CommandOption("--json")]
    [Description("Print JSON on stdout.")]
    public bool Json { get; init; }

    public override Spectre.Console.ValidationResult Validate()
    {
        if (Bases.Length == 0 || Targets.Length == 0)
            return Spectre.Console.ValidationResult.Error("give at least one --base and one --target image");
        return base.Validate();
    }
}
