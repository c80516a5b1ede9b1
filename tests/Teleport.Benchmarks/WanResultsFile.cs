using System.Globalization;

namespace Teleport.Benchmarks;

/// <summary>
/// Reads the TSV file <c>infra/bench/wan-bench.sh</c> writes: a header line, then one line per transfer with the
/// columns <c>pair method bytes_s2d bytes_d2s seconds image_bytes</c> (any further columns are ignored).
/// </summary>
public static class WanResultsFile
{
    private static readonly string[] Required = ["pair", "method", "bytes_s2d", "bytes_d2s", "seconds", "image_bytes"];

    public static IReadOnlyList<WanResult> Read(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"results file '{path}' does not exist", path);
        string[] lines = File.ReadAllLines(path).Where(l => l.Length > 0).ToArray();
        if (lines.Length == 0)
            throw new InvalidDataException($"{path}: empty, expected a header line");
        string[] header = lines[0].Split('\t');
        var column = Required.ToDictionary(name => name, name =>
        {
            int i = Array.IndexOf(header, name);
            return i >= 0 ? i : throw new InvalidDataException($"{path}: the header has no '{name}' column");
        });

        var results = new List<WanResult>();
        for (int n = 1; n < lines.Length; n++)
        {
            string[] cells = lines[n].Split('\t');
            if (cells.Length < header.Length)
                throw new InvalidDataException($"{path} line {n + 1}: {cells.Length} columns, the header has {header.Length}");
            results.Add(new WanResult(
                cells[column["pair"]],
                cells[column["method"]],
                Long(path, n, "bytes_s2d", cells[column["bytes_s2d"]]),
                Long(path, n, "bytes_d2s", cells[column["bytes_d2s"]]),
                Double(path, n, "seconds", cells[column["seconds"]]),
                Long(path, n, "image_bytes", cells[column["image_bytes"]])));
        }
        if (results.Count == 0)
            throw new InvalidDataException($"{path}: no results below the header");
        return results;
    }

    private static long Long(string path, int n, string name, string text) =>
        long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long v)
            ? v
            : throw new InvalidDataException($"{path} line {n + 1}: {name} '{text}' is not a non-negative whole number");

    private static double Double(string path, int n, string name, string text) =>
        double.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double v)
            ? v
            : throw new InvalidDataException($"{path} line {n + 1}: {name} '{text}' is not a non-negative number");
}
