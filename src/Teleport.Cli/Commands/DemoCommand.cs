using Teleport.Cli.Demo;

namespace Teleport.Cli.Commands;

/// <summary>
/// <c>teleport demo</c>: the whole system in one process on embedded defaults migrates a generated volume while
/// an in-process VM writes to it, then checks every write landed on the destination and prints the figures.
/// Exit 0 only when the migration succeeded and the check passed.
/// </summary>
public sealed class DemoCommand(CliConsole console) : AsyncCommand<DemoSettings>
{
    public override async Task<int> ExecuteAsync(CommandContext context, DemoSettings settings, CancellationToken cancellationToken)
    {
        var options = Parse(settings);
        var progress = new DemoProgress(console);
        var result = await progress.ShowAsync(() => new DemoRunner(options, progress).RunAsync(cancellationToken));
        if (settings.Json)
            console.WriteJson(result);
        else
            console.Results.Write(DemoTables.Summary(result));
        return result.Verified ? ExitCodes.Success : ExitCodes.Failure;
    }

    private static DemoOptions Parse(DemoSettings settings)
    {
        long bytes = ByteSize.Parse(settings.Size, "--size");
        if (bytes % DemoImages.BlockSize != 0 || bytes < DemoOptions.MinVolumeBytes || bytes > DemoOptions.MaxVolumeBytes)
            throw new UserInputException(
                $"--size {settings.Size} must be a multiple of 4 KiB from {ByteSize.Format(DemoOptions.MinVolumeBytes)} to {ByteSize.Format(DemoOptions.MaxVolumeBytes)}");
        if (settings.Keep is { Length: 0 })
            throw new UserInputException("--keep needs a directory");
        var bandwidth = TransferSupport.ParseRate(settings.Bandwidth);
        var guest = settings.Guest || settings.WholeVm ? GuestImage.FromEnvironment(settings.WholeVm ? "--whole-vm" : "--guest") : null;
        return new DemoOptions(bytes, bandwidth, settings.Keep, settings.Verbose, guest, settings.WholeVm);
    }
}
