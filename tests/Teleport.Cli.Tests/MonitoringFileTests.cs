using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Teleport.Cli.Tests;

/// <summary>
/// infra/prometheus/alerts.yml passes promtool (Debian's prometheus package, infra/test.d/65-promtool.sh) and its
/// unit tests; every family it and the Grafana dashboard read is one docs/operations.md lists.
/// </summary>
public sealed class MonitoringFileTests
{
    private static string Root => DeploymentFileTests.RepositoryRoot();

    [Fact]
    public void The_alert_rules_pass_promtool_and_their_unit_tests()
    {
        string directory = Path.Combine(Root, "infra", "prometheus");

        var check = Promtool(directory, "check", "rules", "alerts.yml");
        Assert.True(check.Code == 0, check.Output);
        Assert.Contains("SUCCESS", check.Output);
        var test = Promtool(directory, "test", "rules", "alerts.test.yml");
        Assert.True(test.Code == 0, test.Output);
    }

    [Fact]
    public void Every_family_the_rules_and_the_dashboard_read_is_documented()
    {
        string docs = File.ReadAllText(Path.Combine(Root, "docs", "operations.md"));
        string rules = File.ReadAllText(Path.Combine(Root, "infra", "prometheus", "alerts.yml"));
        using var dashboard = JsonDocument.Parse(File.ReadAllText(Path.Combine(Root, "infra", "grafana", "dashboards", "teleport.json")));
        string expressions = string.Join('\n', dashboard.RootElement.GetProperty("panels").EnumerateArray()
            .SelectMany(p => p.GetProperty("targets").EnumerateArray()).Select(t => t.GetProperty("expr").GetString()));

        var families = Regex.Matches(rules + "\n" + expressions, @"\bteleport_[a-z0-9_]+").Select(m => Family(m.Value)).ToHashSet();

        Assert.True(families.Count >= 12, string.Join(", ", families));
        foreach (string family in families)
            Assert.True(docs.Contains($"`{family}`", StringComparison.Ordinal), $"{family} is read by the alerts or the dashboard but docs/operations.md does not list it");
    }

    // A histogram's series are its family plus _bucket, _count or _sum.
    private static string Family(string series) => Regex.Replace(series, "_(bucket|count|sum)$", "");

    private static (int Code, string Output) Promtool(string directory, params string[] args)
    {
        var start = new ProcessStartInfo(TestEnvironment.Require("TELEPORT_PROMTOOL", "65-promtool.sh (Debian's prometheus package)"))
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (string arg in args)
            start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        string error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output.Result + error);
    }
}
