namespace Teleport.Cli.Commands;

/// <summary>Options shared by the index commands.</summary>
public class IndexSettings : BlockSizeSettings
{
    [CommandOption("--index <DIR>")]
    [Description("Directory holding the index (created if missing); it holds one index per block size.")]
    public string IndexDirectory { get; init; } = "";

    public override Spectre.Console.ValidationResult Validate() =>
        string.IsNullOrWhiteSpace(IndexDirectory)
            ? Spectre.Console.ValidationResult.Error("--index DIR is required")
            : base.Validate();
}

public sealed class IndexBuildSettings : IndexSettings
{
    [CommandArgument(0, "<IMAGE>")]
    [Description("Images to index: files or block devices.")]
    public string[] Images { get; init; } = [];

    [CommandOption("--threads <N>")]
    [Description("Cores to hash with (default: all); lower it to leave CPU to running VMs.")]
    public int? Threads { get; init; }

    [CommandOption("--rebuild")]
    [Description("Discard the existing index (for example a damaged one) and index the images from scratch.")]
    public bool Rebuild { get; init; }

    public override Spectre.Console.ValidationResult Validate() =>
        Threads is <= 0 ? Spectre.Console.ValidationResult.Error("--threads must be at least 1") : base.Validate();
}

public sealed class IndexStatsSettings : IndexSettings;
