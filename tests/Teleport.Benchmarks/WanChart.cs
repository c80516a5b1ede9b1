using ScottPlot;

namespace Teleport.Benchmarks;

/// <summary>
/// <c>chart RESULTS.tsv OUT.png [TITLE]</c>: the WAN benchmark as grouped bars, bytes on the wire above and wall
/// time below, one group per method and one bar colour per image pair.
/// </summary>
public static class WanChart
{
    private static readonly Color[] PairColors =
        [Color.FromHex("#1f77b4"), Color.FromHex("#ff7f0e"), Color.FromHex("#2ca02c"), Color.FromHex("#9467bd")];

    public static int Run(string[] args)
    {
        if (args.Length is < 2 or > 3)
        {
            Console.Error.WriteLine("usage: chart RESULTS.tsv OUT.png [TITLE]");
            return 2;
        }
        IReadOnlyList<WanResult> results;
        try
        {
            results = WanResultsFile.Read(args[0]);
        }
        catch (Exception e) when (e is IOException or InvalidDataException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
        Render(results, args[1], args.Length == 3 ? args[2] : "WAN benchmark");
        Console.Error.WriteLine($"chart written to {args[1]}");
        return 0;
    }

    public static void Render(IReadOnlyList<WanResult> results, string path, string title)
    {
        string[] pairs = results.Select(r => r.Pair).Distinct().ToArray();
        string[] methods = results.Select(r => r.Method).Distinct().ToArray();

        var multiplot = new Multiplot();
        multiplot.AddPlots(2);
        var bytes = multiplot.GetPlot(0);
        var time = multiplot.GetPlot(1);
        Panel(bytes, results, pairs, methods, r => r.BytesOnWire / 1e6, "{0:0.#} MB", "Bytes on the wire, both directions (MB)");
        Panel(time, results, pairs, methods, r => r.Seconds, "{0:0.#} s", "Wall time (s)");
        bytes.Title(title);
        // The pair legend once, on the top panel.
        for (int p = 0; p < pairs.Length; p++)
            bytes.Legend.ManualItems.Add(new LegendItem { LabelText = pairs[p], FillColor = PairColors[p % PairColors.Length] });
        bytes.Legend.Alignment = Alignment.UpperRight;
        bytes.ShowLegend();
        multiplot.SavePng(path, 1600, 1050);
    }

    private static void Panel(Plot plot, IReadOnlyList<WanResult> results, string[] pairs, string[] methods,
        Func<WanResult, double> value, string format, string axisLabel)
    {
        double groupWidth = 0.8, barWidth = groupWidth / pairs.Length;
        var bars = new List<Bar>();
        for (int m = 0; m < methods.Length; m++)
        {
            for (int p = 0; p < pairs.Length; p++)
            {
                var row = results.FirstOrDefault(r => r.Method == methods[m] && r.Pair == pairs[p]);
                if (row is null)
                    continue;
                double v = value(row);
                bars.Add(new Bar
                {
                    Position = m - groupWidth / 2 + barWidth * (p + 0.5),
                    Value = v,
                    Size = barWidth * 0.95,
                    FillColor = PairColors[p % PairColors.Length],
                    Label = string.Format(System.Globalization.CultureInfo.InvariantCulture, format, v),
                });
            }
        }
        var barPlot = plot.Add.Bars(bars);
        barPlot.ValueLabelStyle.FontSize = 11;
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        for (int m = 0; m < methods.Length; m++)
            ticks.AddMajor(m, methods[m].Replace(", ", ",\n"));
        plot.Axes.Bottom.TickGenerator = ticks;
        plot.Axes.Bottom.TickLabelStyle.FontSize = 13;
        plot.Axes.Bottom.MajorTickStyle.Length = 0;
        plot.YLabel(axisLabel);
        plot.Axes.Margins(bottom: 0, top: 0.15);
        plot.HideGrid();
    }
}
