namespace Teleport.Contracts;

/// <summary>How QEMU migrates a whole VM's memory (null means the host worker's default).</summary>
/// <remarks>
/// Multifd: several parallel channels with zstd compression (worth it when the link is slow and CPU is idle).
/// DowntimeLimitMilliseconds: QEMU's downtime-limit for its stop-and-copy. The bandwidth is the migration's own
/// (MigrationOptions.BandwidthBytesPerSecond). TLS follows the hosts' configuration, never the message.
/// PostCopy: QEMU's postcopy-ram when pre-copy does not converge (null: on unless Multifd; QEMU 7.2 cannot combine the
/// two, so true with Multifd true is refused). The source host starts post-copy once PostCopyAfterRounds of QEMU's
/// passes over memory (default 5) did not bring the dirty memory below its smallest so far, or PostCopyAfterSeconds
/// (default 600) of pre-copy passed. The point of no return is then the start of post-copy (docs/saga.md).
/// </remarks>
public sealed record MemoryMigrationOptions(
    bool? Multifd = null,
    int? MultifdChannels = null,
    int? DowntimeLimitMilliseconds = null,
    bool? PostCopy = null,
    int? PostCopyAfterRounds = null,
    int? PostCopyAfterSeconds = null)
{
    /// <summary>The largest PostCopyAfterRounds and PostCopyAfterSeconds (a day) the saga accepts and a host honours.</summary>
    public const int MaxPostCopyAfterRounds = 1000, MaxPostCopyAfterSeconds = 86_400;
}
