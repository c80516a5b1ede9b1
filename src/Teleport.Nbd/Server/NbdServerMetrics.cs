using System.Diagnostics;
using System.Diagnostics.Metrics;
using Teleport.Nbd.Protocol;

namespace Teleport.Nbd.Server;

/// <summary>
/// How long the NBD server takes per request, from dispatch to its reply sent (meter "Teleport.Nbd"); the histogram's
/// count is the number of operations; and the bytes of payload buffers NBD servers hold (<see cref="NbdMemoryBudget"/>).
/// Process-wide; with no listener a record costs nothing.
/// </summary>
public static class NbdServerMetrics
{
    public const string MeterName = "Teleport.Nbd";

    private static readonly Meter Meter = new(MeterName);

    // Buckets for a disk: 50 µs (a cached read) to 10 s (a request stuck behind a slow device).
    private static readonly Histogram<double> Duration = Meter.CreateHistogram(
        "teleport.nbd.server.operation.duration", "s", "Time from an NBD request's dispatch to its reply sent, by operation",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10] });

    private static readonly UpDownCounter<long> Memory = Meter.CreateUpDownCounter<long>(
        "teleport.nbd.server.memory.usage", "By", "Bytes of WRITE payloads and READ slices the NBD servers hold, counted against their memory budget");

    private static readonly KeyValuePair<string, object?>[] Operations =
    [
        Tag("read"), Tag("write"), Tag("disconnect"), Tag("flush"), Tag("trim"), Tag("cache"), Tag("write_zeroes"), Tag("block_status"),
    ];

    private static readonly KeyValuePair<string, object?> Other = Tag("other");

    internal static void Record(NbdCommand command, long startedTimestamp)
    {
        if (!Duration.Enabled)
            return;
        int index = (int)command;
        var operation = index >= 0 && index < Operations.Length ? Operations[index] : Other;
        Duration.Record(Stopwatch.GetElapsedTime(startedTimestamp).TotalSeconds, operation);
    }

    internal static void MemoryInUse(long delta) => Memory.Add(delta);

    private static KeyValuePair<string, object?> Tag(string operation) => new("nbd.operation", operation);
}
