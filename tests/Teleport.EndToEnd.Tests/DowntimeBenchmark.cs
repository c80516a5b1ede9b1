using System.Diagnostics;
using System.Text.Json;
using Teleport.Contracts;
using Teleport.EndToEnd.Tests.Fixtures;

namespace Teleport.EndToEnd.Tests;

/// <summary>
/// Downtime benchmark (not a test: run by infra/bench/downtime.sh): full live migrations of an idle guest and of a
/// guest writing continuously, each run in a fresh <see cref="MigrationWorld"/>; prints every run's downtime
/// (VmPaused.PausedAt to VmResumed.ResumedAt, final sync included) with its breakdown, then median and max. With
/// --fenced the migrations take the fenced cut-over (the VM resumes before the destination verified).
/// </summary>
public static class DowntimeBenchmark
{
    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr)
    {
        int runs = 5;
        string mode = "both";
        string? json = null;
        bool fenced = false;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--runs" when i + 1 < args.Length && int.TryParse(args[i + 1], out runs) && runs > 0:
                    i++;
                    break;
                case "--mode" when i + 1 < args.Length && args[i + 1] is "idle" or "writing" or "both":
                    mode = args[++i];
                    break;
                case "--json" when i + 1 < args.Length:
                    json = args[++i];
                    break;
                case "--fenced":
                    fenced = true;
                    break;
                default:
                    stderr.WriteLine($"downtime: unexpected argument '{args[i]}' (--runs N, --mode idle|writing|both, --json FILE, --fenced)");
                    return 2;
            }
        }

        var results = new Dictionary<string, List<DowntimeReport>>();
        int failed = 0;
        foreach (string kind in mode == "both" ? new[] { "idle", "writing" } : [mode])
        {
            var reports = results[kind] = [];
            for (int run = 1; run <= runs; run++)
            {
                var clock = Stopwatch.StartNew();
                try
                {
                    var report = await OneAsync(kind, (ulong)run, fenced);
                    reports.Add(report);
                    stdout.WriteLine($"{kind} run {run}/{runs}: {report} (run took {clock.Elapsed.TotalSeconds:0.0} s)");
                }
                catch (Exception e) when (e is InvalidOperationException or TimeoutException)
                {
                    // A failed migration has no downtime to count: say so, keep going, and fail the whole run at the end.
                    failed++;
                    stdout.WriteLine($"{kind} run {run}/{runs}: FAILED: {e.Message}");
                }
            }
        }

        stdout.WriteLine();
        stdout.WriteLine("| guest | runs | downtime median | max | min | switched at (median) | verified at (median) | resume after both (median) |");
        stdout.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var (kind, reports) in results.Where(r => r.Value.Count > 0))
        {
            stdout.WriteLine($"| {kind} | {reports.Count} | {Median(reports, r => r.TotalMs):0} ms | {reports.Max(r => r.TotalMs):0} ms | {reports.Min(r => r.TotalMs):0} ms | " +
                $"+{Median(reports, r => r.PauseToSwitchedMs):0} ms | +{Median(reports, r => r.PauseToSyncedMs):0} ms | {Median(reports, r => r.ResumeAfterReadyMs):0} ms |");
        }

        if (json is not null)
            await File.WriteAllTextAsync(json, JsonSerializer.Serialize(results, new JsonSerializerOptions { WriteIndented = true }));
        if (failed > 0)
            stdout.WriteLine($"{failed} run(s) failed (see above)");
        return failed == 0 ? 0 : 1;
    }

    private static async Task<DowntimeReport> OneAsync(string kind, ulong run, bool fenced)
    {
        var workload = kind == "idle" ? GuestWorkload.Idle(run) : GuestWorkload.Continuous(run);
        await using var world = await MigrationWorld.StartAsync(workload);
        if (kind == "idle")
        {
            await world.Guest.WaitForAsync(g => g.Console.Contains("TPW idle"), TimeSpan.FromSeconds(120), "the guest to finish its records and go idle");
            // Let the last writes' dirty blocks go out with the first round, as on a VM that has been idle a while.
            await Task.Delay(500);
        }
        else
        {
            await world.Guest.WaitForAsync(g => g.LastProgress >= 300, TimeSpan.FromSeconds(120), "the workload to reach record 300");
        }

        var id = await world.RequestMigrationAsync(fenced ? new MigrationOptions(VolumeBytes: MigrationWorld.DefaultVolumeBytes, FencedCutover: true) : null);
        object outcome = await world.Watch.OutcomeAsync(id, TimeSpan.FromSeconds(120));
        if (outcome is not MigrationSucceeded)
            throw new InvalidOperationException($"{kind} run {run}: the migration failed: {outcome}");
        if (kind == "writing" && world.Guest.HasExited)
            throw new InvalidOperationException($"{kind} run {run}: the guest stopped writing before the cut-over; raise GuestWorkload.Writing's record count");
        return DowntimeReport.From(world.Watch, id);
    }

    private static double Median(List<DowntimeReport> reports, Func<DowntimeReport, double> value)
    {
        var sorted = reports.Select(value).Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }
}
