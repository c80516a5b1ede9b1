namespace Teleport.Storage.Tests.DirtyTracking;

/// <summary>
/// The result lines of the kmod test guest: "KMOD-TEST PASS name", "KMOD-TEST FAIL name reason" and a final
/// "KMOD-TEST DONE passed=N failed=M". Anything else on the console is ignored.
/// </summary>
public sealed class GuestVerdict
{
    private const string Prefix = "KMOD-TEST ";

    public Dictionary<string, string?> Failed { get; } = [];

    public HashSet<string> Passed { get; } = [];

    /// <summary>(passed, failed) from the DONE line, or null when the guest never got there.</summary>
    public (int Passed, int Failed)? Done { get; private set; }

    public static GuestVerdict Parse(string console)
    {
        var verdict = new GuestVerdict();
        foreach (string raw in console.Split('\n'))
        {
            string line = raw.TrimEnd('\r');
            int at = line.IndexOf(Prefix, StringComparison.Ordinal);
            if (at < 0)
                continue;
            string[] words = line[(at + Prefix.Length)..].Split(' ', 3);
            switch (words)
            {
                case ["PASS", var name, ..]:
                    verdict.Passed.Add(name);
                    break;
                case ["FAIL", var name, ..]:
                    verdict.Failed[name] = words.Length > 2 ? words[2] : null;
                    break;
                case ["DONE", var p, var f] when p.StartsWith("passed=", StringComparison.Ordinal)
                                               && f.StartsWith("failed=", StringComparison.Ordinal)
                                               && int.TryParse(p[7..], out int passed)
                                               && int.TryParse(f[7..], out int failed):
                    verdict.Done = (passed, failed);
                    break;
            }
        }
        return verdict;
    }
}
