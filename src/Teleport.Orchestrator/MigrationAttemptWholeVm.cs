using System.Text.Json;
using Teleport.Contracts;

namespace Teleport.Orchestrator;

/// <summary>
/// What an attempt of a whole-VM move learns on top of the disk's figures: the VM's definition (from the source host),
/// the incoming QEMU's endpoint (from the destination host), QEMU's memory progress, and the downtime's split.
/// All null / zero for a storage-only move.
/// </summary>
public sealed partial class MigrationAttempt
{
    /// <summary>The VM's definition as VmDescribed carried it (JSON): PrepareIncomingVm, and its re-sends, are built from it.</summary>
    public string? VmDefinitionJson { get; set; }

    /// <summary>Where the destination's incoming QEMU listens for memory (IncomingVmPrepared); MigrateVmMemory is sent there.</summary>
    public string? MigrationEndpoint { get; set; }

    // A timestamp per whole-VM step.
    public DateTimeOffset? DescribedAt { get; set; }
    public DateTimeOffset? IncomingPreparedAt { get; set; }
    public DateTimeOffset? MemorySentAt { get; set; }
    public DateTimeOffset? MemoryProgressAt { get; set; }
    public DateTimeOffset? MemoryMigratedAt { get; set; }
    public DateTimeOffset? SourceStoppedAt { get; set; }
    public DateTimeOffset? IncomingDiscardedAt { get; set; }

    // QEMU's query-migrate figures, latest first (MemoryMigrationProgress), then its totals (VmMemoryMigrated).
    public string? MemoryStatus { get; set; }
    public long MemoryTransferredBytes { get; set; }
    public long MemoryRemainingBytes { get; set; }
    public long MemoryTotalBytes { get; set; }
    public long MemoryDirtyPagesRate { get; set; }
    public long MemoryExpectedDowntimeMilliseconds { get; set; }

    /// <summary>What QEMU's memory migration sent in all.</summary>
    public long MemoryBytes { get; set; }

    /// <summary>What of it QEMU sent in post-copy, after the destination started running (PostCopy: the move went post-copy).</summary>
    public long MemoryPostCopyBytes { get; set; }

    /// <summary>How long the memory's post-copy streamed behind the resumed VM (null: no post-copy, or not over).</summary>
    public double? MemoryPostCopyMilliseconds => PostCopy && ResumedAt is { } resumed && MemoryMigratedAt is { } completed
        ? Math.Max(0, (completed - resumed).TotalMilliseconds)
        : null;

    /// <summary>The downtime's two parts: QEMU's own (as it reports it) and the disk's final sync and verification.</summary>
    public double? QemuDowntimeMilliseconds { get; set; }
    public double? StorageDowntimeMilliseconds { get; set; }

    // What rollback must undo on the hosts: set when the command is sent, since it may take effect without an answer.
    public bool IncomingRequested { get; set; }
    public bool MemoryMigrationRequested { get; set; }

    /// <summary>DiscardIncomingVm sent (a Failed row re-sends it until IncomingVmDiscarded arrives).</summary>
    public bool DiscardRequested { get; set; }

    public bool VmDescribedSeen => VmDefinitionJson is not null;

    public bool IncomingReady => MigrationEndpoint is not null;

    /// <summary>The discard of the incoming VM is still unconfirmed.</summary>
    public bool DiscardPending => DiscardRequested && IncomingDiscardedAt is null;

    /// <summary>The definition VmDescribed carried (null before it arrived).</summary>
    public VmDefinition? Definition => VmDefinitionJson is null ? null : JsonSerializer.Deserialize<VmDefinition>(VmDefinitionJson);

    // VmDescribed carries no time of its own: the orchestrator's clock stamps it.
    public void Record(VmDescribed described, DateTimeOffset now) =>
        (VmDefinitionJson, DescribedAt) = (JsonSerializer.Serialize(described.Definition), now);

    public void Record(IncomingVmPrepared prepared) =>
        (MigrationEndpoint, IncomingPreparedAt) = (prepared.MigrationEndpoint, prepared.PreparedAt);

    public void Record(MemoryMigrationProgress progress)
    {
        (MemoryStatus, MemoryProgressAt) = (progress.Status, progress.At);
        (MemoryTransferredBytes, MemoryRemainingBytes, MemoryTotalBytes) = (progress.TransferredBytes, progress.RemainingBytes, progress.TotalBytes);
        (MemoryDirtyPagesRate, MemoryExpectedDowntimeMilliseconds) = (progress.DirtyPagesRate, progress.ExpectedDowntimeMilliseconds);
    }

    // QEMU stopped the source's vCPUs: the downtime starts, as VmPaused starts it for a storage-only move. In post-copy,
    // migrate-continue is the point of no return (docs/saga.md).
    public void Record(MemoryPreSwitchover preSwitchover)
    {
        (PausedAt, MemoryStatus, PostCopy) = (preSwitchover.PausedAt, "pre-switchover", preSwitchover.PostCopy);
        MemoryTransferredBytes = Math.Max(MemoryTransferredBytes, preSwitchover.MemoryBytes);
    }

    public void Record(VmMemoryMigrated migrated)
    {
        (MemoryBytes, MemoryTransferredBytes, MemoryRemainingBytes) = (migrated.MemoryBytes, migrated.MemoryBytes, 0);
        (PostCopy, MemoryPostCopyBytes) = (PostCopy || migrated.PostCopy, migrated.PostCopyBytes);
        (QemuDowntimeMilliseconds, MemoryMigratedAt, MemoryStatus) = (migrated.QemuDowntimeMilliseconds, migrated.CompletedAt, "completed");
    }

    /// <summary>
    /// The destination's VM runs on a verified volume: success. The storage part of the downtime is the final sync up to
    /// verification; none when fenced (the cut-over did not wait for it).
    /// </summary>
    public void RecordSucceededOnDestination(VmResumed resumed, DateTimeOffset now, bool fenced)
    {
        RecordResumed(resumed);
        RecordSucceededOnDestination(now, fenced);
    }

    /// <summary>The same once the destination's resume was recorded before (the source's memory figures came last).</summary>
    public void RecordSucceededOnDestination(DateTimeOffset now, bool fenced)
    {
        RecordSucceeded(now);
        StorageDowntimeMilliseconds = fenced ? 0
            : PausedAt is { } paused && CompletedAt is { } completed ? Math.Max(0, (completed - paused).TotalMilliseconds)
            : null;
    }

    /// <summary>A fenced cut-over's VM runs on the destination before the verdict: the downtime is over, none of it the disk's.</summary>
    public void RecordResumedBeforeVerdict(VmResumed resumed)
    {
        RecordResumed(resumed);
        StorageDowntimeMilliseconds = 0;
    }
}
