using System.Globalization;
using System.Text.RegularExpressions;

namespace Teleport.Cli.Infrastructure;

/// <summary>Parses sizes such as <c>4096</c>, <c>4k</c>, <c>64KiB</c>, <c>1g</c> (binary multiples).</summary>
public static partial class ByteSize
{
    [GeneratedRegex(@"^\s*(\d+)\s*([kmgt]?)(i?b)?\s*$", RegexOptions.IgnoreCase)]
    private static partial Regex Pattern();

    public static long Parse(string text, string what)
    {
        var match = Pattern().Match(text);
        if (!match.Success || !long.TryParse(match.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out long value))
            throw new UserInputException($"{what} '{text}' is not a size (examples: 4096, 4k, 64KiB, 1g).");
        int shift = match.Groups[2].Value.ToLowerInvariant() switch { "k" => 10, "m" => 20, "g" => 30, "t" => 40, _ => 0 };
        if (value > long.MaxValue >> shift)
            throw new UserInputException($"{what} '{text}' is too large.");
        return value << shift;
    }

    /// <summary>A human rendering: 1.5 GiB, 512 B.</summary>
    public static string Format(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double value = bytes;
        int unit = 0;
        while (Math.Abs(value) >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }
        return unit == 0 ? $"{bytes} B" : string.Create(CultureInfo.InvariantCulture, $"{value:0.##} {units[unit]}");
    }
}
