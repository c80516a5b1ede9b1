using System.Diagnostics.Metrics;

namespace Teleport.Transfer;

/// <summary>
/// The data channel's byte counter (meter "Teleport.Transfer"), by direction as OpenTelemetry's network conventions
/// name it. Process-wide: every session of the process adds to it; with no listener an add costs nothing.
/// </summary>
public static class DataChannelMetrics
{
    public const string MeterName = "Teleport.Transfer";

    private static readonly Meter Meter = new(MeterName);

    private static readonly Counter<long> Io = Meter.CreateCounter<long>(
        "teleport.data_channel.io", "By", "Frame bytes the data channel sent (transmit) and received (receive), headers included");

    private static readonly KeyValuePair<string, object?> Transmit = new("network.io.direction", "transmit");

    private static readonly KeyValuePair<string, object?> Receive = new("network.io.direction", "receive");

    internal static void Sent(long bytes) => Io.Add(bytes, Transmit);

    internal static void Received(long bytes) => Io.Add(bytes, Receive);
}
