using System.Globalization;
using System.Text.RegularExpressions;

namespace Teleport.Cli.Commands;

/// <summary>Small helpers the operator commands share: formatting and the checks on ids.</summary>
public static partial class Operator
{
    public static string Bytes(long bytes) => ByteSize.Format(bytes);

    public static string Millis(double? ms) => ms is { } v ? v.ToString(v < 10 ? "0.##" : "0", CultureInfo.InvariantCulture) + " ms" : "-";

    /// <summary>Milliseconds from <paramref name="from"/> to <paramref name="to"/>, stamped by different machines: a skew below zero shows as zero.</summary>
    public static double? MillisBetween(DateTimeOffset? from, DateTimeOffset? to) =>
        from is { } f && to is { } t ? Math.Round(Math.Max(0, (t - f).TotalMilliseconds), 1) : null;

    /// <summary>The downtime with its two legs from the pause (the VM resumes after both), when they are known.</summary>
    public static string Downtime(double? downtimeMs, double? pausedToVerifiedMs, double? pausedToSwitchedMs) =>
        pausedToVerifiedMs is null && pausedToSwitchedMs is null
            ? Millis(downtimeMs)
            : $"{Millis(downtimeMs)} (from the pause: destination verified after {Millis(pausedToVerifiedMs)}, disk switched after {Millis(pausedToSwitchedMs)})";

    /// <summary>A whole-VM move's downtime in its two parts: QEMU's own and the disk's final sync and verification.</summary>
    public static string DowntimeSplit(double? qemuMs, double? storageMs) => $"QEMU {Millis(qemuMs)}, storage {Millis(storageMs)}";

    public static string Duration(TimeSpan? value) => value switch
    {
        null => "-",
        { TotalSeconds: < 1 } v => v.TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture) + " ms",
        { TotalMinutes: < 1 } v => v.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture) + " s",
        { TotalHours: < 1 } v => $"{(int)v.TotalMinutes}m{v.Seconds:00}s",
        var v => $"{(int)v.Value.TotalHours}h{v.Value.Minutes:00}m",
    };

    public static string Percent(long part, long whole) =>
        whole <= 0 ? "-" : (100.0 * part / whole).ToString("0.#", CultureInfo.InvariantCulture) + "%";

    /// <summary>The first 8 hex digits: what tables show and status accepts.</summary>
    public static string Short(Guid id) => id.ToString("N")[..8];

    /// <summary>Ids become queue names at the workers: the saga refuses anything else, so say it here first.</summary>
    public static string CheckId(string? value, string flag)
    {
        if (string.IsNullOrEmpty(value))
            throw new UserInputException($"{flag} is required");
        if (!SafeId().IsMatch(value))
            throw new UserInputException($"{flag} '{value}' must be 1-128 characters of letters, digits, '.', '_' or '-'");
        return value;
    }

    public static Guid ParseMigrationId(string? value) =>
        Guid.TryParse(value, out var id) ? id : throw new UserInputException($"'{value}' is not a migration id (a GUID such as {Guid.Empty})");

    [GeneratedRegex("^[A-Za-z0-9._-]{1,128}$")]
    private static partial Regex SafeId();
}
