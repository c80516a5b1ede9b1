namespace Teleport.Contracts;

/// <summary>How QEMU migrates a whole VM's memory (null means the host worker's default).</summary>
/// <remarks>
/// Multifd: several parallel channels with zstd compression (worth it when the link is slow and CPU is idle).
/// DowntimeLimitMilliseconds: QEMU's downtime-limit for its stop-and-copy. The bandwidth is the migration's own
/// (MigrationOptions.BandwidthBytesPerSecond). TLS follows the hosts' configuration, never the message.
/// </remarks>
public sealed record MemoryMigrationOptions(
    bool? Multifd = null,
    int? MultifdChannels = null,
    int? DowntimeLimitMilliseconds = null);
