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

    /// <summary>Each cut-over step (pause, switch + final sync, resume): the VM is paused meanwhile, so this is short.</summary>
    public TimeSpan CutOverTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Each rollback step (switch back, resume on the source).</summary>
    public TimeSpan RollbackTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How often the sweeper looks for rows past their deadline.</summary>
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>A row still past its deadline this long after its expiry was published is published again (the event may have been lost).</summary>
    public TimeSpan RepublishAfter { get; set; } = TimeSpan.FromSeconds(30);
}
