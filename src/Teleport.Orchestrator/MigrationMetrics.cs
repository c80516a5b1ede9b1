using System.Diagnostics.Metrics;

namespace Teleport.Orchestrator;

/// <summary>
/// The orchestrator's metrics (meter "Teleport.Orchestrator"): migrations started, ended and how, the answers of
/// other attempts it dropped, and the figures of each success. Each orchestrator counts what it handled; read them
/// with dotnet-counters or any OpenTelemetry exporter. A message re-run after a concurrency conflict counts again.
/// </summary>
public sealed class MigrationMetrics : IDisposable
{
    public const string MeterName = "Teleport.Orchestrator";

    private readonly Meter _meter = new(MeterName);
    private readonly Counter<long> _started;
    private readonly Counter<long> _succeeded;
    private readonly Counter<long> _failed;
    private readonly Counter<long> _staleEvents;
    private readonly Counter<long> _nudges;
    private readonly Histogram<double> _downtime;
    private readonly Histogram<double> _duration;
    private readonly Histogram<long> _bytesOnWire;

    public MigrationMetrics()
    {
        _started = _meter.CreateCounter<long>("teleport.migrations.started", "{migration}", "Migrations (and retries) sent to their destination");
        _succeeded = _meter.CreateCounter<long>("teleport.migrations.succeeded", "{migration}", "Migrations whose VM resumed on the destination");
        _failed = _meter.CreateCounter<long>("teleport.migrations.failed", "{migration}", "Migrations that ended Failed, by phase");
        _staleEvents = _meter.CreateCounter<long>("teleport.saga.stale_events", "{event}", "Worker answers of another attempt that were dropped, by event");
        _nudges = _meter.CreateCounter<long>("teleport.saga.nudges", "{nudge}", "Nudges that re-sent a state's commands after no progress, by state");
        _downtime = _meter.CreateHistogram<double>("teleport.migration.downtime", "ms", "Time the VM was paused for the cut-over");
        _duration = _meter.CreateHistogram<double>("teleport.migration.duration", "s", "Request to VM resumed on the destination");
        _bytesOnWire = _meter.CreateHistogram<long>("teleport.migration.bytes_on_wire", "By", "Bytes the data channel carried for one migration");
    }

    /// <summary>This instance's meter (tests listen to it alone).</summary>
    internal Meter Meter => _meter;

    public void Started(int attempt) => _started.Add(1, new KeyValuePair<string, object?>("attempt", attempt == 1 ? "first" : "retry"));

    public void Succeeded(MigrationState saga)
    {
        _succeeded.Add(1);
        if (saga.Run.DowntimeMilliseconds is { } downtime)
            _downtime.Record(downtime);
        if (MigrationTimings.Of(saga).Total is { } total)
            _duration.Record(total.TotalSeconds);
        _bytesOnWire.Record(saga.Run.BytesOnWire);
    }

    public void Failed(MigrationState saga) =>
        _failed.Add(1, new KeyValuePair<string, object?>("phase", saga.Run.FailedPhase), new KeyValuePair<string, object?>("incomplete", saga.Run.RollbackIncomplete));

    public void StaleEvent(string eventName) => _staleEvents.Add(1, new KeyValuePair<string, object?>("event", eventName));

    public void Nudged(string state) => _nudges.Add(1, new KeyValuePair<string, object?>("state", state));

    public void Dispose() => _meter.Dispose();
}
