using System.Diagnostics;

namespace Teleport.Cli.Commands;

/// <summary><c>teleport index stats</c>: what an existing index holds.</summary>
public sealed class IndexStatsCommand(CliConsole console) : Command<IndexStatsSettings>
{
    public override int Execute(CommandContext context, IndexStatsSettings settings, CancellationToken cancellationToken)
    {
        if (!Directory.Exists(settings.IndexDirectory))
            throw new UserInputException($"no index at '{settings.IndexDirectory}' (build one with: teleport index build --index {settings.IndexDirectory} IMAGE...)");
        var clock = Stopwatch.StartNew();
        using var index = IndexOpener.Open(settings.IndexDirectory, BlockSizeOption.Parse(settings.BlockSize));
        var stats = index.Stats;
        var summary = new IndexSummary(stats.BlockSize, stats.Images, stats.Blocks, stats.ZeroBlocks, stats.UniqueBlocks,
            BytesRead: stats.IndexBytes, Math.Round(clock.Elapsed.TotalSeconds, 3), stats.IndexBytes, 0, 0, 0, stats.MemoryBytes);
        if (settings.Json)
            console.WriteJson(summary);
        else
        {
            console.Results.Write(IndexTables.Summary(summary, bytesPerSecond: null));
            console.Results.Write(IndexTables.Images(index.Images));
        }
        return ExitCodes.Success;
    }
}
