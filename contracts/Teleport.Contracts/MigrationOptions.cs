namespace Teleport.Contracts;

/// <summary>Tunables of one migration, carried from the request to the workers (null means the worker's default).</summary>
/// <remarks>
/// VolumeBytes: the volume's size as the requester knows it, kept by the saga for every attempt; when set, the source refuses to send and the
/// destination to receive a volume of another size (the migration fails with VolumeMismatch naming both). Null: the source's actual size is
/// taken (the destination builds a volume of the size the authenticated source announces).
/// MaxDowntimeMilliseconds (storage-only moves): the pause the downtime controller aims for (null: 100 ms); it pauses only when its prediction fits,
/// or when waiting cannot help any more: then it pauses anyway, or with StrictMaxDowntime fails the migration instead.
/// FencedCutover (storage-only moves; off by default): fenced early resume. The destination serves the volume as soon as the source has announced its
/// final round, fencing the blocks still on their way; the VM resumes on the destination once its path is switched, before verification, which
/// streams behind it. Needs VolumeBytes (the destination builds its fence when it is prepared). The point of no return moves to that resume: a
/// tail that fails after it cannot roll back (docs/saga.md, "Fenced early resume").
/// </remarks>
public sealed record MigrationOptions(
    int? BlockSize = null,
    long? BandwidthBytesPerSecond = null,
    long? DirtyThresholdBlocks = null,
    int? MaxCopyRounds = null,
    int? CompressionLevel = null,
    bool UseIndex = true,
    MemoryMigrationOptions? Memory = null,
    long? VolumeBytes = null,
    int? MaxDowntimeMilliseconds = null,
    bool StrictMaxDowntime = false,
    bool FencedCutover = false);
