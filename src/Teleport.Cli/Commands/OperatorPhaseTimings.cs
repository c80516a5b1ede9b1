using Teleport.Orchestrator;

namespace Teleport.Cli.Commands;

/// <summary>Phase durations in milliseconds for JSON (null: the phase has not ended).</summary>
public sealed record OperatorPhaseTimings(
    double? PrepareMs, double? IndexMs, double? RequestMs, double? CopyMs, double? CutOverMs, double? DowntimeMs, double? TotalMs,
    double? PausedToVerifiedMs, double? PausedToSwitchedMs)
{
    public static OperatorPhaseTimings Of(MigrationTimings t) => new(
        Ms(t.Prepare), Ms(t.Index), Ms(t.Request), Ms(t.Copy), Ms(t.CutOver), Ms(t.Downtime), Ms(t.Total),
        Ms(t.PausedToVerified), Ms(t.PausedToSwitched));

    private static double? Ms(TimeSpan? value) => value is { } v ? Math.Round(v.TotalMilliseconds, 3) : null;
}
