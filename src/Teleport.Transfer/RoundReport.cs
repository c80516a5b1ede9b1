namespace Teleport.Transfer;

/// <summary>One finished copy round as seen by the source.</summary>
/// <param name="Round">1-based; the final round is the last one reported with <paramref name="Final"/> set.</param>
/// <param name="BlocksSent">Blocks carried in this round (data and zero).</param>
/// <param name="ZeroBlocks">Of those, blocks sent as zero runs (no payload).</param>
/// <param name="WireBytes">Frame bytes this round put on the wire.</param>
/// <param name="Seconds">Wall time of the round.</param>
/// <param name="DirtyAfter">Blocks dirty when the round ended (what the next round would carry).</param>
/// <param name="Final">The round sent after the cut-over call.</param>
public sealed record RoundReport(int Round, long BlocksSent, long ZeroBlocks, long WireBytes, double Seconds, long DirtyAfter, bool Final)
{
    public double BytesPerSecond => Seconds > 0 ? WireBytes / Seconds : 0;

    /// <summary>The data connection's round trip as the kernel measured it at the round's end (null where unknown).</summary>
    public double? RoundTripSeconds { get; init; }
}
