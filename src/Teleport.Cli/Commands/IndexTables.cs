using System.Globalization;
using Teleport.Blocks;

namespace Teleport.Cli.Commands;

/// <summary>Human renderings of index figures.</summary>
internal static class IndexTables
{
    public static Table Summary(IndexSummary s, double? bytesPerSecond)
    {
        var table = new Table().Border(TableBorder.Simple).HideHeaders().AddColumn("").AddColumn(new TableColumn("").RightAligned());
        void Row(string name, string value) => table.AddRow(name, Markup.Escape(value));
        Row("block size", ByteSize.Format(s.BlockSize));
        Row("images", N(s.Files));
        Row("blocks", N(s.Blocks));
        Row("zero blocks", N(s.ZeroBlocks));
        Row("unique non-zero blocks", N(s.UniqueBlocks));
        Row("index file", ByteSize.Format(s.IndexBytes));
        Row("memory", ByteSize.Format(s.MemoryBytes));
        if (bytesPerSecond is { } rate)
        {
            Row("images read / skipped / removed", $"{s.FilesScanned} / {s.FilesSkipped} / {s.FilesRemoved}");
            Row("bytes read", ByteSize.Format(s.BytesRead));
            Row("time", string.Create(CultureInfo.InvariantCulture, $"{s.Seconds:0.00} s ({ByteSize.Format((long)rate)}/s)"));
        }
        return table;
    }

    public static Table Images(IReadOnlyList<IndexedImage> images)
    {
        var table = new Table().Border(TableBorder.Simple).AddColumn("image")
            .AddColumn(new TableColumn("blocks").RightAligned())
            .AddColumn(new TableColumn("zero").RightAligned())
            .AddColumn(new TableColumn("shared with others").RightAligned());
        foreach (var image in images)
            table.AddRow(Markup.Escape(image.Path), N(image.Blocks), N(image.ZeroBlocks), N(image.SharedBlocks));
        return table;
    }

    private static string N(long value) => value.ToString("N0", CultureInfo.InvariantCulture);
}
