using System.Globalization;
using Serilog;
using Teleport.Blocks;

namespace Teleport.Cli.Commands;

/// <summary>
/// <c>teleport similarity</c>: for one base and one target, the block classification (--json: one object with
/// integer fields); for several, the matrix of hit percentages and zero-block percentages, laid out like the
/// similarity and zero-block tables of the original WAN-migration study.
/// </summary>
public sealed class SimilarityCommand(CliConsole console) : BlockSizeCommand<SimilaritySettings>
{
    protected override int Execute(SimilaritySettings settings, int blockSize, CancellationToken cancellationToken)
    {
        string[] paths = settings.Bases.Concat(settings.Targets).Distinct().ToArray();
        ImageFiles.RequireExisting(paths, "image");

        var digests = Digest(paths, blockSize, cancellationToken);
        if (settings.Bases.Length == 1 && settings.Targets.Length == 1)
        {
            var report = SimilarityAnalyzer.Compare(digests[settings.Bases[0]], digests[settings.Targets[0]]);
            if (settings.Json)
                console.WriteJson(new PairJson(report));
            else
            {
                console.Out.WriteLine($"{Path.GetFileName(settings.Targets[0])} against {Path.GetFileName(settings.Bases[0])} ({report.BlockSize}-byte blocks)");
                console.Results.Write(PairTable(report));
            }
            return ExitCodes.Success;
        }

        var matrix = settings.Bases.ToDictionary(b => b, b =>
        {
            var content = SimilarityAnalyzer.NonZeroContent([digests[b]]);
            return settings.Targets.ToDictionary(t => t, t => SimilarityAnalyzer.Compare(content, digests[t]));
        });
        if (settings.Json)
        {
            console.WriteJson(new MatrixJson(blockSize,
                [.. from b in settings.Bases from t in settings.Targets select new MatrixCellJson(b, t, new PairJson(matrix[b][t]))]));
        }
        else
        {
            console.Out.WriteLine("Similarity: share of the target's non-zero blocks found in the base (rows: base, columns: target)");
            console.Results.Write(MatrixTable(settings, matrix));
            console.Out.WriteLine("Zero blocks in each target");
            console.Results.Write(ZeroTable(settings.Targets, digests));
        }
        return ExitCodes.Success;
    }

    private Dictionary<string, ImageDigest> Digest(string[] paths, int blockSize, CancellationToken cancellationToken)
    {
        var digests = new Dictionary<string, ImageDigest>();
        void DigestAll(Action<string, ImageDigest> done)
        {
            foreach (string path in paths)
            {
                var digest = ImageDigest.Compute(path, blockSize, cancellationToken);
                digests[path] = digest;
                done(path, digest);
                Log.Debug("Fingerprinted {Image}: {Blocks} blocks, {ZeroBlocks} zero, {BytesRead} bytes read",
                    path, digest.Blocks, digest.ZeroBlocks, digest.BytesRead);
            }
        }

        if (console.IsInteractive)
        {
            console.Ui.Progress().AutoClear(true).Start(ctx =>
            {
                var task = ctx.AddTask("fingerprinting images", maxValue: paths.Length);
                DigestAll((path, _) => task.Increment(1));
            });
        }
        else
        {
            DigestAll((_, _) => { });
        }
        return digests;
    }

    private static Table PairTable(SimilarityReport r)
    {
        var table = new Table().Border(TableBorder.Simple)
            .AddColumn("blocks").AddColumn(new TableColumn("count").RightAligned()).AddColumn(new TableColumn("share").RightAligned());
        void Row(string name, long count, long of) =>
            table.AddRow(name, count.ToString("N0", CultureInfo.InvariantCulture), Percent(count, of));
        Row("all", r.Blocks, r.Blocks);
        Row("zero", r.ZeroBlocks, r.Blocks);
        Row("non-zero", r.NonZeroBlocks, r.Blocks);
        Row("  found in base", r.HitBlocks, r.NonZeroBlocks);
        Row("  repeated in target", r.SelfDuplicateBlocks, r.NonZeroBlocks);
        Row("  must be sent", r.MustSendBlocks, r.NonZeroBlocks);
        return table;
    }

    private static Table MatrixTable(SimilaritySettings settings, Dictionary<string, Dictionary<string, SimilarityReport>> matrix)
    {
        var table = new Table().Border(TableBorder.Simple).AddColumn("base \\ target");
        foreach (string t in settings.Targets)
            table.AddColumn(new TableColumn(Markup.Escape(Path.GetFileName(t))).RightAligned());
        table.AddColumn(new TableColumn("average").RightAligned());
        foreach (string b in settings.Bases)
        {
            var cells = new List<string> { Markup.Escape(Path.GetFileName(b)) };
            var others = new List<SimilarityReport>();
            foreach (string t in settings.Targets)
            {
                var r = matrix[b][t];
                if (SamePath(b, t))
                {
                    cells.Add("n/a");
                    continue;
                }
                others.Add(r);
                cells.Add(Percent(r.HitBlocks, r.NonZeroBlocks));
            }
            cells.Add(others.Count == 0 ? "n/a"
                : string.Create(CultureInfo.InvariantCulture, $"{others.Average(r => r.HitRatio) * 100:0.00}%"));
            table.AddRow(cells.ToArray());
        }
        return table;
    }

    private static Table ZeroTable(string[] targets, Dictionary<string, ImageDigest> digests)
    {
        var table = new Table().Border(TableBorder.Simple);
        foreach (string t in targets)
            table.AddColumn(new TableColumn(Markup.Escape(Path.GetFileName(t))).RightAligned());
        table.AddRow(targets.Select(t => Percent(digests[t].ZeroBlocks, digests[t].Blocks)).ToArray());
        return table;
    }

    private static bool SamePath(string a, string b) => Path.GetFullPath(a) == Path.GetFullPath(b);

    private static string Percent(long part, long whole) =>
        whole == 0 ? "-" : string.Create(CultureInfo.InvariantCulture, $"{100.0 * part / whole:0.00}%");

    /// <summary>Exactly the fields the JSON contract promises, all integers.</summary>
    private sealed record PairJson(int BlockSize, long Blocks, long ZeroBlocks, long NonZeroBlocks, long HitBlocks, long SelfDuplicateBlocks, long MustSendBlocks)
    {
        public PairJson(SimilarityReport r) : this(r.BlockSize, r.Blocks, r.ZeroBlocks, r.NonZeroBlocks, r.HitBlocks, r.SelfDuplicateBlocks, r.MustSendBlocks) { }
    }

    private sealed record MatrixCellJson(string Base, string Target, PairJson Result);

    private sealed record MatrixJson(int BlockSize, MatrixCellJson[] Pairs);
}
