using System.Diagnostics;
using Serilog;
using Teleport.Blocks;

namespace Teleport.Cli.Commands;

/// <summary><c>teleport index build</c>: brings the index up to date with the given images and saves it.</summary>
public sealed class IndexBuildCommand(CliConsole console) : BlockSizeCommand<IndexBuildSettings>
{
    protected override int Execute(IndexBuildSettings settings, int blockSize, CancellationToken cancellationToken)
    {
        ImageFiles.RequireExisting(settings.Images, "image");

        var clock = Stopwatch.StartNew();
        if (settings.Rebuild)
            BlockIndex.Reset(settings.IndexDirectory, blockSize);
        using var index = IndexOpener.Open(settings.IndexDirectory, blockSize);
        if (settings.Threads is { } threads)
            index.MaxParallelism = threads;
        IndexBuildReport report = null!;
        if (console.IsInteractive)
            console.Ui.Status().Start($"indexing {settings.Images.Length} image(s)", _ => report = index.Update(settings.Images, cancellationToken));
        else
            report = index.Update(settings.Images, cancellationToken);
        index.Save();
        var stats = index.Stats;
        double seconds = clock.Elapsed.TotalSeconds;
        Log.Information("Indexed {Scanned} image(s), skipped {Skipped} unchanged, removed {Removed}: {Bytes} bytes read in {Seconds:0.00} s",
            report.ImagesScanned, report.ImagesSkipped, report.ImagesRemoved, report.BytesRead, seconds);

        var summary = new IndexSummary(stats.BlockSize, stats.Images, stats.Blocks, stats.ZeroBlocks, stats.UniqueBlocks,
            report.BytesRead, Math.Round(seconds, 3), stats.IndexBytes, report.ImagesScanned, report.ImagesSkipped, report.ImagesRemoved, stats.MemoryBytes);
        if (settings.Json)
            console.WriteJson(summary);
        else
            console.Results.Write(IndexTables.Summary(summary, report.BytesRead / Math.Max(seconds, 1e-9)));
        return ExitCodes.Success;
    }
}
