namespace Teleport.Orchestrator;

/// <summary>What the last copy rounds tell about the link and the guest, as the downtime controller reads them.</summary>
/// <param name="DirtyBlocks">Blocks dirty at the last report (what the final round would carry now).</param>
/// <param name="DirtyBlocksPerSecond">How fast the guest dirtied blocks during the last round.</param>
/// <param name="WireBytesPerBlock">What one block cost on the wire so far (compression and zero runs included).</param>
/// <param name="LinkBytesPerSecond">The rate the last round reached on the data channel (0: unknown).</param>
/// <param name="RoundTripMilliseconds">The data channel's round trip (0: unknown, e.g. loopback or not reported).</param>
public readonly record struct CopyFigures(long DirtyBlocks, double DirtyBlocksPerSecond, double WireBytesPerBlock, double LinkBytesPerSecond, double RoundTripMilliseconds);

/// <summary>A predicted pause: the part no waiting changes (local steps and round trips) and the final round's transfer.</summary>
public readonly record struct DowntimePrediction(double FixedMilliseconds, double TransferMilliseconds)
{
    public double TotalMilliseconds => FixedMilliseconds + TransferMilliseconds;
}

/// <summary>
/// Predicts a storage-only cut-over's pause before it is taken. Fixed part: the host's local steps (QMP stop and cont,
/// the switch's swap and flush) plus the round trips the cut-over waits on (the final round's end and the
/// destination's answer; the switch's NBD_OPT_GO on the connection opened before the pause). Transfer part: the blocks
/// dirty when the pause begins — those reported, plus what the guest dirties while the decision travels to the host
/// (one round trip) — at the wire cost per block seen so far, over the link rate the last round reached. Before any round
/// measured the link the transfer part is taken as nothing: the source's own threshold then decides alone.
/// </summary>
public static class DowntimePredictor
{
    /// <param name="figures">What the last rounds measured.</param>
    /// <param name="model">The cut-over's fixed costs.</param>
    /// <param name="local">The host carries the cut-over itself (fenced storage-only): it waits on <see cref="DowntimeModel.LocalCutOverRoundTrips"/>.</param>
    public static DowntimePrediction Predict(CopyFigures figures, DowntimeModel model, bool local = false)
    {
        double roundTrip = Math.Max(0, figures.RoundTripMilliseconds);
        double fixedPart = model.LocalMilliseconds + ((local ? model.LocalCutOverRoundTrips : model.CutOverRoundTrips) * roundTrip);
        double dirty = Math.Max(0, figures.DirtyBlocks) + (Math.Max(0, figures.DirtyBlocksPerSecond) * roundTrip / 1000);
        // No round measured the link yet (its event may still be on the way): the source's threshold is all there is.
        if (dirty <= 0 || figures.LinkBytesPerSecond <= 0 || figures.WireBytesPerBlock <= 0)
            return new DowntimePrediction(fixedPart, 0);
        return new DowntimePrediction(fixedPart, dirty * figures.WireBytesPerBlock / figures.LinkBytesPerSecond * 1000);
    }
}

/// <summary>The cut-over's costs that are not measured per migration (section "Orchestrator:Settings:Downtime").</summary>
public sealed class DowntimeModel
{
    /// <summary>The host's own steps during the pause (QMP stop and cont, the switch's flush and swap): milliseconds on a loaded host.</summary>
    public double LocalMilliseconds { get; set; } = 20;

    /// <summary>Data-channel round trips the cut-over waits on after the pause (final round and its verification; the switch's export selection).</summary>
    public double CutOverRoundTrips { get; set; } = 2;

    /// <summary>
    /// The same for a cut-over the host carries itself (fenced storage-only moves): none. The host selected the
    /// destination's held export before the pause, so the pause is stop, a local swap and cont; the round trip the final
    /// round's Fence list needs is paid by the guest's first I/O after the resume, not by the pause.
    /// </summary>
    public double LocalCutOverRoundTrips { get; set; }
}
