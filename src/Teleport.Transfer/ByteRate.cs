using System.Globalization;

namespace Teleport.Transfer;

/// <summary>
/// A transfer rate in bytes per second, parsed from what operators write: <c>100mbit</c>, <c>1gbit/s</c>,
/// <c>100Mbps</c>, <c>12.5MB/s</c>, <c>512KiB/s</c>, <c>750000</c> (bytes per second), <c>unlimited</c>.
/// Bit units and byte units with k/M/G are decimal; KiB/MiB/GiB are binary.
/// </summary>
public readonly record struct ByteRate
{
    private ByteRate(double bytesPerSecond) => BytesPerSecond = bytesPerSecond;

    /// <summary>Bytes per second; 0 means unlimited.</summary>
    public double BytesPerSecond { get; }

    public bool IsUnlimited => BytesPerSecond <= 0;

    public static ByteRate Unlimited => default;

    public static ByteRate FromBytesPerSecond(double bytesPerSecond)
    {
        if (double.IsNaN(bytesPerSecond) || double.IsInfinity(bytesPerSecond) || bytesPerSecond < 0)
            throw new ArgumentOutOfRangeException(nameof(bytesPerSecond), bytesPerSecond, "a rate must be a finite number >= 0");
        return new ByteRate(bytesPerSecond);
    }

    public static ByteRate FromBitsPerSecond(double bitsPerSecond) => FromBytesPerSecond(bitsPerSecond / 8);

    /// <summary>Parses a rate; throws <see cref="FormatException"/> naming the accepted forms.</summary>
    public static ByteRate Parse(string text) =>
        TryParse(text, out var rate)
            ? rate
            : throw new FormatException(
                $"'{text}' is not a rate: write e.g. 100mbit, 1gbit/s, 100Mbps, 12.5MB/s, 512KiB/s, 750000 (bytes/s) or unlimited");

    public static bool TryParse(string? text, out ByteRate rate)
    {
        rate = default;
        if (string.IsNullOrWhiteSpace(text))
            return false;
        string s = text.Trim();
        if (s.Equals("unlimited", StringComparison.OrdinalIgnoreCase) || s.Equals("none", StringComparison.OrdinalIgnoreCase))
            return true;

        if (s.EndsWith("/s", StringComparison.OrdinalIgnoreCase))
            s = s[..^2];
        int split = 0;
        while (split < s.Length && (char.IsAsciiDigit(s[split]) || s[split] == '.'))
            split++;
        if (split == 0 || !double.TryParse(s[..split], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double number))
            return false;

        string unit = s[split..].Trim();
        double? multiplier = UnitMultiplier(unit);
        if (multiplier is null)
            return false;
        double value = number * multiplier.Value;
        if (double.IsInfinity(value))
            return false;
        rate = new ByteRate(value);
        return true;
    }

    // Bytes per second for one of the unit. "b" in bit units is any case; byte units end in a capital B
    // (so an ambiguous "mb" is refused rather than guessed).
    private static double? UnitMultiplier(string unit)
    {
        if (unit.Length == 0 || unit == "B")
            return 1;
        string lower = unit.ToLowerInvariant();
        foreach (string bitSuffix in (ReadOnlySpan<string>)["bit", "bps"])
        {
            if (lower.EndsWith(bitSuffix, StringComparison.Ordinal))
                return Prefix(lower[..^3], binary: false) is { } p ? p / 8 : null;
        }

        if (unit.EndsWith("iB", StringComparison.Ordinal) && unit.Length == 3)
            return Prefix(unit[..1].ToLowerInvariant(), binary: true);
        if (unit.EndsWith('B') && unit.Length == 2)
            return Prefix(unit[..1].ToLowerInvariant(), binary: false);
        return null;
    }

    private static double? Prefix(string prefix, bool binary) => prefix switch
    {
        "" => 1,
        "k" => binary ? 1024.0 : 1e3,
        "m" => binary ? 1024.0 * 1024 : 1e6,
        "g" => binary ? 1024.0 * 1024 * 1024 : 1e9,
        _ => null,
    };

    public override string ToString() =>
        IsUnlimited ? "unlimited" : BytesPerSecond * 8 >= 1e9 ? $"{BytesPerSecond * 8 / 1e9:0.###}gbit/s"
        : BytesPerSecond * 8 >= 1e6 ? $"{BytesPerSecond * 8 / 1e6:0.###}mbit/s" : $"{BytesPerSecond * 8 / 1e3:0.###}kbit/s";
}
