using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Teleport.Host.Worker;

/// <summary>
/// The host worker's metrics (meter "Teleport.Host"): VMs paused for a cut-over, path switches, and how long QEMU
/// takes to answer QMP commands. Process-wide; with no listener a record costs nothing.
/// </summary>
public static class HostWorkerMetrics
{
    public const string MeterName = "Teleport.Host";

    private static readonly Meter Meter = new(MeterName);

    private static readonly Counter<long> Pauses = Meter.CreateCounter<long>("teleport.host.pauses", "{pause}", "VMs paused for a cut-over (repeats of a command not counted)");

    private static readonly Counter<long> Switches = Meter.CreateCounter<long>(
        "teleport.host.switches", "{switch}", "Disk paths switched, by direction: to the destination (target) or back to the source (back)");

    private static readonly Histogram<double> QmpDuration = Meter.CreateHistogram(
        "teleport.host.qmp.command.duration", "s", "Time from a QMP command sent to QEMU's answer, by command",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] });

    private static readonly Counter<long> RelayLinks = Meter.CreateCounter<long>(
        "teleport.host.memory_relay.links", "{event}", "Memory relay links that broke, resumed, or stayed broken past the recovery window, by event");

    // Set in the cut-over's rehearsal's own flow (it flows into the tasks it starts): its pause, switch and QMP commands
    // are no VM's and are not counted.
    private static readonly AsyncLocal<bool> Rehearsing = new();

    /// <summary>Stops counting in the calling flow (an async method's setting ends with it).</summary>
    internal static void MuteThisFlow() => Rehearsing.Value = true;

    internal static void Paused()
    {
        if (!Rehearsing.Value)
            Pauses.Add(1);
    }

    internal static void Switched(bool back)
    {
        if (!Rehearsing.Value)
            Switches.Add(1, new KeyValuePair<string, object?>("teleport.switch.direction", back ? "back" : "target"));
    }

    /// <summary>Records a QMP command's round trip; <paramref name="error"/> names the exception type of one that failed.</summary>
    internal static void QmpCommand(string command, long startedTimestamp, string? error)
    {
        if (!QmpDuration.Enabled || Rehearsing.Value)
            return;
        double seconds = Stopwatch.GetElapsedTime(startedTimestamp).TotalSeconds;
        if (error is null)
            QmpDuration.Record(seconds, new KeyValuePair<string, object?>("qmp.command", command));
        else
            QmpDuration.Record(seconds, new KeyValuePair<string, object?>("qmp.command", command), new KeyValuePair<string, object?>("error.type", error));
    }

    internal static void RelayBroke() => RelayLinks.Add(1, new KeyValuePair<string, object?>("teleport.relay.event", "broke"));

    internal static void RelayResumed() => RelayLinks.Add(1, new KeyValuePair<string, object?>("teleport.relay.event", "resumed"));

    internal static void RelayExpired() => RelayLinks.Add(1, new KeyValuePair<string, object?>("teleport.relay.event", "expired"));
}
