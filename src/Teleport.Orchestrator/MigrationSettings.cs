namespace Teleport.Orchestrator;

/// <summary>How long the saga waits in each phase, and how the deadline sweeper runs (section "Orchestrator:Settings").</summary>
public sealed class MigrationSettings
{
    /// <summary>Preparing: waiting for DestinationPrepared.</summary>
    public TimeSpan PrepareTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Indexing and Requesting: each waits this long for IndexStreamed / BlocksRequested.</summary>
    public TimeSpan IndexAndRequestTimeout { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>Copying: the whole run of copy rounds up to DirtyBelowThreshold.</summary>
    public TimeSpan CopyTimeout { get; set; } = TimeSpan.FromHours(6);

    /// <summary>MigratingMemory (whole-VM moves): QEMU's memory pre-copy, up to its pre-switchover.</summary>
    public TimeSpan MemoryTimeout { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Each cut-over step (pause, switch + final sync, resume; for whole-VM moves final sync, continue, start): the VM is paused meanwhile, so this is short.</summary>
    public TimeSpan CutOverTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// CompletingTail (fenced cut-over): the VM runs on the destination while the final round and the verification finish
    /// behind it. Past this the migration fails without a rollback (the source volume is kept for an operator).
    /// </summary>
    public TimeSpan TailTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Storage-only moves: the longest the host keeps the VM paused for the cut-over (carried by PauseVm). If the switch and
    /// the resume have not completed by then the host itself switches the path back and resumes the VM on the source, so a
    /// broker, orchestrator or WAN outage during the cut-over cannot stretch the pause; the saga then rolls back. Null or
    /// zero: unbounded (the pause lasts until the saga's rollback). Default 5 s: well above a WAN cut-over's few round
    /// trips (about 0.5 s at 50 ms) and a loaded orchestrator's hops, far below an outage's many seconds.
    /// </summary>
    public TimeSpan? PauseBudget { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The downtime controller's fixed costs of a cut-over (its measured part comes from the copy rounds).</summary>
    public DowntimeModel Downtime { get; set; } = new();

    /// <summary>
    /// Rounds the downtime controller waits past the source's threshold for a predicted pause that fits MaxDowntime; then
    /// it pauses anyway (or fails a StrictMaxDowntime migration). Rounds come every 100 ms or so once converged.
    /// </summary>
    public int DowntimeWaitRounds { get; set; } = 50;

    /// <summary>
    /// Post-copy (fenced migrations only): copy rounds in a row that did not bring the dirty set below its smallest so far
    /// (the guest dirties faster than the link) before the controller stops waiting for a pause that fits and cuts over at
    /// once with the whole dirty set fenced. Also applies before the source reported its threshold.
    /// </summary>
    public int PostCopyAfterRounds { get; set; } = 5;

    /// <summary>Post-copy (fenced migrations only): the copy-time budget, from the first copy round to the latest one.</summary>
    public TimeSpan PostCopyAfter { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Each rollback step (switch back, resume on the source).</summary>
    public TimeSpan RollbackTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How often the sweeper looks for rows past their deadline or due for a nudge (short: cut-over nudges are due after seconds).</summary>
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>A row still past its deadline this long after its expiry was published is published again (the event may have been lost).</summary>
    public TimeSpan RepublishAfter { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Preparing: re-send PrepareDestination after this long without DestinationPrepared (the destination answers a duplicate with it again).</summary>
    public TimeSpan PrepareNudgeInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Indexing, Requesting, Copying (and MigratingMemory, re-sending MigrateVmMemory): re-send StartTransfer after this long without any event of the transfer. The index
    /// phase sends nothing until IndexStreamed and a copy round over a slow link can take minutes, so this is long; a
    /// duplicate StartTransfer of a transfer running or done is ignored by the source.
    /// </summary>
    public TimeSpan TransferNudgeInterval { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Pausing, Switching, Resuming: re-send the unanswered cut-over command(s) after this long; the VM is paused meanwhile.</summary>
    public TimeSpan CutOverNudgeInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>RollingBackSwitch, RollingBackResume, and Failed while an AbortTransfer is unacknowledged: re-send after this long.</summary>
    public TimeSpan RollbackNudgeInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long after the failure a Failed migration keeps re-sending unacknowledged AbortTransfer commands.</summary>
    public TimeSpan AbortResendWindow { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>The nudge interval of a state by its name; null where nothing is re-sent (Succeeded).</summary>
    public TimeSpan? NudgeIntervalOf(string state) => state switch
    {
        "Preparing" => PrepareNudgeInterval,
        "Indexing" or "Requesting" or "Copying" or "MigratingMemory" => TransferNudgeInterval,
        "Pausing" or "Switching" or "Resuming" or "SyncingDisk" or "ContinuingMemory" or "StartingOnDestination" or "CompletingTail" => CutOverNudgeInterval,
        "RollingBackSwitch" or "RollingBackResume" or "Failed" => RollbackNudgeInterval,
        _ => null,
    };
}
