using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Teleport.Testing;

namespace Teleport.Cli.Tests;

/// <summary>
/// infra/bench/guest-console.py, which the whole-VM benchmark reads the guest's downtime with: the longest gap between
/// two records, the record that ended it, and the gap across the switch (source's last record to destination's first).
/// </summary>
public sealed class GuestConsoleScriptTests
{
    [Fact]
    public void A_longer_gap_in_the_pre_copy_is_reported_apart_from_the_switch()
    {
        using var dir = new TempDir();
        // Records 1-5 on the source, a 0.9 s stall before record 3 (the pre-copy), 0.3 s across the switch to 6-8.
        Write(dir, "src.log", "TPW guest ready", (1, 10.0), (2, 10.1), (3, 11.0), (4, 11.1), (5, 11.2));
        Write(dir, "dst.log", null, (6, 11.5), (7, 11.6), (8, 11.7));

        var result = Run(dir);

        Assert.True(result.GetProperty("continued").GetBoolean());
        Assert.Equal(900.0, result.GetProperty("longestGapMs").GetDouble(), 1);
        Assert.Equal(3, result.GetProperty("longestGapSeq").GetInt32());
        Assert.Equal(300.0, result.GetProperty("switchGapMs").GetDouble(), 1);
    }

    [Fact]
    public void A_destination_without_records_has_no_switch_gap_and_did_not_continue()
    {
        using var dir = new TempDir();
        Write(dir, "src.log", "TPW guest ready", (1, 10.0), (2, 10.2));
        Write(dir, "dst.log", null);

        var result = Run(dir);

        Assert.False(result.GetProperty("continued").GetBoolean());
        Assert.Equal(JsonValueKind.Null, result.GetProperty("switchGapMs").ValueKind);
        Assert.Equal(2, result.GetProperty("longestGapSeq").GetInt32());
    }

    // One stamped line per record, as wan-whole-vm.sh's stamp writes the console: "EPOCH-SECONDS TEXT".
    private static void Write(TempDir dir, string name, string? first, params (int Seq, double At)[] records)
    {
        var lines = records.Select(r => string.Create(CultureInfo.InvariantCulture, $"{1_800_000_000 + r.At:0.000000} TPW seq={r.Seq}"));
        if (first is not null)
            lines = lines.Prepend($"1800000009.000000 {first}");
        File.WriteAllLines(dir.File(name), lines);
    }

    private static JsonElement Run(TempDir dir)
    {
        var start = new ProcessStartInfo("python3") { RedirectStandardOutput = true };
        foreach (string arg in new[] { Path.Combine(DeploymentFileTests.RepositoryRoot(), "infra", "bench", "guest-console.py"),
                     dir.File("src.log"), dir.File("dst.log") })
            start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.Equal(0, process.ExitCode);
        return JsonDocument.Parse(output).RootElement.Clone();
    }
}
