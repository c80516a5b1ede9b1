using Teleport.Contracts;

namespace Teleport.Orchestrator.Dashboard;

/// <summary>
/// One migration as the dashboard's read API returns it (JSON, camelCase): what the saga row holds that an operator
/// needs, never its secrets or endpoints. Durations are milliseconds; <see cref="Progress"/> runs from 0 to 1.
/// </summary>
public sealed record DashboardMigration(
    Guid Id, string VmId, string VolumeId, string SourceStorageId, string DestinationStorageId, string HostId, string? DestinationHostId,
    string State, string Phase, int Attempt, bool Final, DateTimeOffset? RequestedAt, DateTimeOffset? PhaseEnteredAt, double Progress,
    DashboardFigures Figures, IReadOnlyList<RoundPoint> RoundPoints, DashboardMemory? Memory, DashboardTimings Timings, DashboardFailure? Failure)
{
    public static DashboardMigration Of(MigrationState m) => new(
        m.CorrelationId, m.VmId, m.VolumeId, m.SourceStorageId, m.DestinationStorageId, m.HostId, m.DestinationHostId,
        m.CurrentState, m.Phase, m.Attempt, m.CurrentState is "Succeeded" or "Failed", m.RequestedAt, m.PhaseEnteredAt,
        ProgressOf(m), DashboardFigures.Of(m.Run), m.Run.RoundPoints(),
        m.WholeVm ? DashboardMemory.Of(m.Run) : null, DashboardTimings.Of(m), DashboardFailure.Of(m.Run));

    // The share of the volume the destination holds (zero runs, index hits, blocks sent) carries the bar to 90 %;
    // the cut-over the rest, so a bar at 100 % means the VM runs on the destination.
    private static double ProgressOf(MigrationState m)
    {
        var run = m.Run;
        if (m.CurrentState == "Succeeded")
            return 1;
        if (run.Blocks <= 0)
            return 0;
        long present = run.ZeroBlocks + run.BlocksFromIndex + Math.Min(run.BlocksSent, run.BlocksRequestedFromSource);
        double data = Math.Clamp((double)present / run.Blocks, 0, 1) * 0.9;
        return m.Phase == MigrationPhases.CutOver || run.ThresholdSeen ? Math.Max(data, 0.95) : data;
    }
}

/// <summary>The figures of the current attempt; <see cref="DedupRatio"/> is volume bytes per byte on the wire.</summary>
public sealed record DashboardFigures(
    long VolumeBytes, long BytesOnWire, double? DedupRatio, long Blocks, long ZeroBlocks, long BlocksFromIndex,
    long BlocksRequestedFromSource, long BlocksSent, int Rounds, long DirtyBlocks, double BytesPerSecond, bool Verified)
{
    public static DashboardFigures Of(MigrationAttempt run) => new(
        run.VolumeBytes, run.BytesOnWire, run.BytesOnWire > 0 && run.VolumeBytes > 0 ? (double)run.VolumeBytes / run.BytesOnWire : null,
        run.Blocks, run.ZeroBlocks, run.BlocksFromIndex, run.BlocksRequestedFromSource, run.BlocksSent, run.Rounds, run.DirtyBlocks,
        run.LastBytesPerSecond, run.Verified);
}

/// <summary>QEMU's memory migration of a whole-VM move.</summary>
public sealed record DashboardMemory(string? Status, long TransferredBytes, long RemainingBytes, long TotalBytes, long DirtyPagesRate, long Bytes)
{
    public static DashboardMemory Of(MigrationAttempt run) => new(
        run.MemoryStatus, run.MemoryTransferredBytes, run.MemoryRemainingBytes, run.MemoryTotalBytes, run.MemoryDirtyPagesRate, run.MemoryBytes);
}

/// <summary>How long each phase took, and where the downtime went (null: not reached).</summary>
public sealed record DashboardTimings(
    double? PrepareMs, double? IndexMs, double? RequestMs, double? CopyMs, double? CutOverMs, double? TotalMs,
    double? DowntimeMs, double? PausedToSwitchedMs, double? PausedToVerifiedMs, double? QemuDowntimeMs, double? StorageDowntimeMs)
{
    public static DashboardTimings Of(MigrationState m)
    {
        var t = MigrationTimings.Of(m);
        return new DashboardTimings(
            Ms(t.Prepare), Ms(t.Index), Ms(t.Request), Ms(t.Copy), Ms(t.CutOver), Ms(t.Total), Ms(t.Downtime),
            Ms(t.PausedToSwitched), Ms(t.PausedToVerified), m.Run.QemuDowntimeMilliseconds, m.Run.StorageDowntimeMilliseconds);
    }

    private static double? Ms(TimeSpan? span) => span?.TotalMilliseconds;
}

/// <summary>Why the attempt failed, where, and whether the rollback left work for an operator.</summary>
public sealed record DashboardFailure(string? Reason, string? Phase, string? State, bool RollbackIncomplete)
{
    public static DashboardFailure? Of(MigrationAttempt run) =>
        run.FailureReason is null && !run.RollbackIncomplete ? null : new(run.FailureReason, run.FailedPhase, run.FailedState, run.RollbackIncomplete);
}
