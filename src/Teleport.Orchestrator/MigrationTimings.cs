namespace Teleport.Orchestrator;

/// <summary>
/// How long each phase of a migration took, from the timestamps on its saga row (null: the phase has not ended).
/// Worker phases are measured on the workers' clocks, the rest on the orchestrator's or the requester's.
/// </summary>
public sealed record MigrationTimings(
    TimeSpan? Prepare,
    TimeSpan? Index,
    TimeSpan? Request,
    TimeSpan? Copy,
    TimeSpan? CutOver,
    TimeSpan? Downtime,
    TimeSpan? Total,
    TimeSpan? PausedToVerified = null,
    TimeSpan? PausedToSwitched = null)
{
    public static MigrationTimings Of(MigrationState row)
    {
        // The destination may finish its request before the source reports the index streamed: the copy starts after both.
        var indexDone = Latest(row.Run.IndexStreamedAt, row.Run.BlocksRequestedAt);
        return new MigrationTimings(
            Prepare: Between(row.Run.PrepareSentAt, row.Run.PreparedAt),
            Index: Between(row.Run.PreparedAt, row.Run.IndexStreamedAt),
            Request: Between(row.Run.IndexStreamedAt, row.Run.BlocksRequestedAt),
            Copy: Between(indexDone, row.Run.DirtyBelowThresholdAt),
            CutOver: Between(row.Run.PauseSentAt, row.Run.ResumedAt),
            Downtime: row.Run.DowntimeMilliseconds is { } ms ? TimeSpan.FromMilliseconds(ms) : null,
            Total: Between(row.RequestedAt, row.Run.SucceededAt ?? row.Run.FailedAt),
            // Inside the downtime: the final sync (destination verified and serving) and the host's switch run side by
            // side from the pause; the VM resumes after the later of the two.
            PausedToVerified: Between(row.Run.PausedAt, row.Run.CompletedAt),
            PausedToSwitched: Between(row.Run.PausedAt, row.Run.SwitchedAt));
    }

    private static DateTimeOffset? Latest(DateTimeOffset? a, DateTimeOffset? b) =>
        a is null || b is null ? null : a > b ? a : b;

    // Clocks of different machines may disagree a little: a phase never takes less than nothing.
    private static TimeSpan? Between(DateTimeOffset? from, DateTimeOffset? to) =>
        from is { } f && to is { } t ? (t > f ? t - f : TimeSpan.Zero) : null;
}
