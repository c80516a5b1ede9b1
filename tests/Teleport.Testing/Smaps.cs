using System.Globalization;

namespace Teleport.Testing;

/// <summary>This process's mappings as the kernel reports them (/proc/self/smaps).</summary>
public static class Smaps
{
    /// <summary>
    /// The value of <paramref name="field"/> (e.g. "AnonHugePages", "VmFlags") of the mapping that holds
    /// <paramref name="address"/>: what follows the field's colon, trimmed.
    /// </summary>
    public static string Field(long address, string field)
    {
        bool inside = false;
        string prefix = field + ":";
        foreach (string line in File.ReadLines("/proc/self/smaps"))
        {
            int dash = line.IndexOf('-');
            if (dash > 0 && line.IndexOf(' ') > dash && ulong.TryParse(line.AsSpan(0, dash), NumberStyles.HexNumber, null, out ulong start))
            {
                ulong end = ulong.Parse(line.AsSpan(dash + 1, line.IndexOf(' ') - dash - 1), NumberStyles.HexNumber);
                inside = (ulong)address >= start && (ulong)address < end;
            }
            else if (inside && line.StartsWith(prefix, StringComparison.Ordinal))
            {
                return line[prefix.Length..].Trim();
            }
        }
        throw new InvalidOperationException($"No mapping holds 0x{address:x}.");
    }
}
