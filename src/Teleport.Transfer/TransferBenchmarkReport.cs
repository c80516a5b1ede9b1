using System.Globalization;

namespace Teleport.Transfer;

/// <summary>Figures of one <see cref="TransferBenchmark"/> run.</summary>
/// <param name="Options">What was generated and how it was migrated.</param>
/// <param name="RawBytes">Size of the migrated volume.</param>
/// <param name="Result">The source's result of the migration.</param>
/// <param name="HashMegabytesPerSecond">Source fingerprinting speed on one core (SHA-256 per block).</param>
/// <param name="CompressMegabytesPerSecond">Source zstd speed on one core at the chosen level (raw bytes in); 0 when off.</param>
/// <param name="ExpectedSecondsAtRate">BytesOnWire / bandwidth when a bandwidth is set.</param>
public sealed record TransferBenchmarkReport(
    TransferBenchmarkOptions Options,
    long RawBytes,
    TransferResult Result,
    double HashMegabytesPerSecond,
    double CompressMegabytesPerSecond,
    double? ExpectedSecondsAtRate)
{
    /// <summary>Volume bytes migrated per second of wall time.</summary>
    public double VolumeMegabytesPerSecond => RawBytes / 1e6 / Result.Seconds;

    public double WireMegabitsPerSecond => Result.BytesOnWire * 8 / 1e6 / Result.Seconds;

    public override string ToString()
    {
        var r = Result;
        var s = string.Create(CultureInfo.InvariantCulture,
            $"""
            volume            {RawBytes / 1048576.0:0.0} MiB, block {Options.BlockSize} B, zstd level {Options.CompressionLevel}, bandwidth {Options.Bandwidth}, RTT {Options.RoundTripTime.TotalMilliseconds:0} ms
            blocks            {r.Blocks} total: {r.ZeroBlocks} zero, {r.BlocksFromIndex} from the destination index, {r.BlocksSent} sent
            bytes on wire     {r.BytesOnWire:N0} ({100.0 * r.BytesOnWire / Math.Max(1, RawBytes):0.0}% of raw): index {r.IndexBytes:N0}, data {r.DataBytes:N0}
            time              {r.Seconds:0.000} s{(ExpectedSecondsAtRate is { } e ? string.Create(CultureInfo.InvariantCulture, $" (bytesOnWire/rate = {e:0.000} s, ratio {r.Seconds / e:0.00})") : "")}
            throughput        {VolumeMegabytesPerSecond:0.0} MB/s of volume, {WireMegabitsPerSecond:0.0} Mbit/s on the wire
            source CPU (1 core) SHA-256 {HashMegabytesPerSecond:0} MB/s, zstd {(Options.CompressionLevel == 0 ? "off" : string.Create(CultureInfo.InvariantCulture, $"{CompressMegabytesPerSecond:0} MB/s"))}
            verified          {r.Verified}, rounds {r.Rounds}
            """);
        return s;
    }
}
